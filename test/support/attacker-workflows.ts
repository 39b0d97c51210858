/**
 * Workflows an attacker with a Temporal connection could run — a curious central operator, or
 * any site, since all of them reach the cluster: they skip Parley's coordinator and its checks
 * and hand a site's task queue whatever step request they like. Tests run them on a worker of
 * their own to show that the site, not the coordinator, refuses.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { SiteActivities, StepOutcome, StepRequest } from '../../activities/types.ts';

/** Asks `org`'s site to run `request`, once, as if it were a step of this workflow's run. */
export async function runStepDirectlyWorkflow(org: string, request: StepRequest): Promise<StepOutcome> {
  const site = proxyActivities<SiteActivities>({ taskQueue: `site.${org}`, startToCloseTimeout: '2 minutes', retry: { maximumAttempts: 1 } });
  return site.runStep(request);
}
