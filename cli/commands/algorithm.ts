/**
 * `parley algorithm <verb>`: what a data scientist does with their own algorithm — scaffold it
 * (new), build its image (build), and run it once here under the sandbox (test). One file per
 * verb; this one dispatches.
 */
import type { Command } from '../lib/command.ts';
import { verbCommand } from '../lib/verb-command.ts';
import type { SiteVerb as Verb } from '../lib/site-verb.ts';
import { algorithmBuild } from './algorithm-build.ts';
import { algorithmNew } from './algorithm-new.ts';
import { algorithmTest } from './algorithm-test.ts';

const verbs: Verb[] = [algorithmNew, algorithmBuild, algorithmTest];
export const algorithmCommand: Command = verbCommand('algorithm', 'Write your own algorithm: new, build, test', verbs);
