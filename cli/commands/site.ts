/**
 * `parley site <verb>`: what a site operator does — set up the site (init), register it in a
 * collaboration (register), run its worker (start), decide what runs (allow) and whose keys to
 * trust (trust), look at it (status), at what it has released (releases) and at the privacy
 * budgets it keeps (budget). One file per verb; this one dispatches.
 */
import type { Command } from '../lib/command.ts';
import { verbCommand } from '../lib/verb-command.ts';
import { siteAllow } from './site-allow.ts';
import { siteBudgetVerb } from './site-budget.ts';
import { siteJoin } from './site-join.ts';
import { siteInit } from './site-init.ts';
import { siteRegister } from './site-register.ts';
import { siteReleasesVerb } from './site-releases.ts';
import { siteStart } from './site-start.ts';
import { siteStatusVerb } from './site-status.ts';
import { siteTrust } from './site-trust.ts';
import type { SiteVerb } from '../lib/site-verb.ts';

const verbs: SiteVerb[] = [siteInit, siteRegister, siteJoin, siteStart, siteAllow, siteTrust, siteStatusVerb, siteReleasesVerb, siteBudgetVerb];
export const siteCommand: Command = verbCommand('site', 'Operate a site: init, register, start, allow, trust, status, releases, budget', verbs);
