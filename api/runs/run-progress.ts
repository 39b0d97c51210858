/**
 * A run's progress per step and site, for people: the site activities its history shows, each
 * under the chain step it belongs to, plus the chain's steps not scheduled yet as `pending` — so
 * a watcher sees the whole chain from the start.
 */
import type { ChainSpec } from '../../common/chain.ts';
import type { ActivityState, SiteActivity } from './activity-progress.ts';

export interface SiteProgress {
  /** The chain step (for a ring run: the site's own step). */
  step: string;
  /** The step id the site runs: a secure sum runs protocol steps named `<chain step>.…`. */
  siteStep: string;
  org: string;
  state: ActivityState | 'pending';
}

/** The chain step a site step belongs to: itself, or the one whose id prefixes it. */
function chainStepOf(chain: ChainSpec | undefined, siteStep: string): string {
  return chain?.steps.find((s) => siteStep === s.id || siteStep.startsWith(`${s.id}.`))?.id ?? siteStep;
}

/**
 * The activities under their chain steps, in chain order (then as scheduled), with every
 * (step, site) the chain will run and has not scheduled yet as `pending`.
 */
export function runProgress(chain: ChainSpec | undefined, participants: string[], activities: SiteActivity[]): SiteProgress[] {
  const seen = activities.map((a) => ({ step: chainStepOf(chain, a.step), siteStep: a.step, org: a.org, state: a.state }));
  if (chain === undefined) return seen;
  const order = new Map(chain.steps.map((s, i) => [s.id, i]));
  const pending: SiteProgress[] = chain.steps.flatMap((step) => (step.kind === 'container' ? step.at ?? participants : participants)
    .filter((org) => !seen.some((a) => a.step === step.id && a.org === org))
    .map((org) => ({ step: step.id, siteStep: step.id, org, state: 'pending' as const })));
  return [...seen, ...pending].map((p, i) => ({ p, i }))
    .sort((a, b) => (order.get(a.p.step) ?? Infinity) - (order.get(b.p.step) ?? Infinity) || a.i - b.i)
    .map(({ p }) => p);
}
