/**
 * Activity stubs routed to one site's task queue. Every call at a site goes to `site.<org>`,
 * so only that organisation's worker — holding its keys and data — can pick it up.
 */
import { ActivityCancellationType, log, proxyActivities } from '@temporalio/workflow';
import type { SiteActivities, StepPreparation } from '../activities/types.ts';
import { ErrorCode } from '../common/errors.ts';
import { siteTaskQueue, type OrgId } from '../common/ids.ts';

/** Failures that retrying cannot fix: the algorithm, the allow-list, the envelopes. */
const NON_RETRYABLE: string[] = [
  ErrorCode.StepFailed,
  ErrorCode.StepTimeout,
  // The same algorithm on the same data under the same limit needs the same memory again.
  ErrorCode.StepOutOfMemory,
  ErrorCode.StepProtocol,
  ErrorCode.ImageNotAllowed,
  ErrorCode.DatasetUnknown,
  ErrorCode.EnvelopeTampered,
  ErrorCode.EnvelopeRecipient,
  ErrorCode.EnvelopeBinding,
  ErrorCode.EnvelopeReplayed,
  ErrorCode.UnknownSender,
  ErrorCode.KeyChanged,
  ErrorCode.KeyInvalid,
  ErrorCode.InvalidInput,
];

/** The stubs for one site; `stepTimeoutMs` is the container's own wall-clock limit. */
export function siteActivities(org: OrgId, stepTimeoutMs: number): SiteActivities {
  return proxyActivities<SiteActivities>({
    taskQueue: siteTaskQueue(org),
    // The site kills the container at its own timeout; this bound only adds the site's
    // overhead (opening, sealing, image checks) so a lost worker is noticed, not waited on.
    startToCloseTimeout: stepTimeoutMs + 60_000,
    // Steps heartbeat while their container runs: a crashed site worker is detected in
    // seconds and the step retried on the same queue (by that site's restarted worker).
    heartbeatTimeout: '5 seconds',
    // On cancel, wait until the site has killed its container: only then may cleanup remove the
    // run volume, or a step still starting could create resources after the cleanup ran.
    // (Cancellation reaches the site with its next heartbeat, sent at most every ~4 s.)
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: {
      initialInterval: '1 second',
      maximumAttempts: 3,
      nonRetryableErrorTypes: NON_RETRYABLE,
    },
  });
}

/** Cleanup is short and must survive the run's cancellation; it is idempotent. */
export function cleanupActivities(org: OrgId): Pick<SiteActivities, 'endRun'> {
  return proxyActivities<SiteActivities>({
    taskQueue: siteTaskQueue(org),
    startToCloseTimeout: '1 minute',
    // A site that is down stays down for a while; the worker's start-up sweep removes what
    // this call could not, so the run does not wait on it for long.
    scheduleToCloseTimeout: '10 minutes',
    retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
  });
}

/**
 * Preparing is only ahead of time (issue 17): one attempt, short, and its failure costs the step
 * nothing but the time preparing would have saved, since the step prepares itself when it comes.
 */
function preparationActivities(org: OrgId): Pick<SiteActivities, 'prepareStep'> {
  return proxyActivities<SiteActivities>({
    taskQueue: siteTaskQueue(org),
    // Image check, volume, workspace and a container create: seconds on a slow engine, never minutes.
    startToCloseTimeout: '1 minute',
    retry: { maximumAttempts: 1 },
  });
}

/**
 * Asks `preparation.org` to prepare a step that comes next, so that when it comes only its
 * container's start is left. Never throws: a refused or failed preparation is logged, and the
 * step itself then meets the same check, or prepares itself.
 */
export async function prepareStepAt(preparation: StepPreparation): Promise<void> {
  try {
    await preparationActivities(preparation.org).prepareStep(preparation);
  } catch {
    log.info('step not prepared ahead; it prepares itself when it runs', { runId: preparation.runId, step: preparation.step, org: preparation.org });
  }
}

export { DEFAULT_STEP_TIMEOUT_MS } from '../common/run-manifest.ts';

/**
 * Removes the run's volume, containers and ledger at one site. A failure is logged, not thrown:
 * the run's outcome stands, and the site sweeps what is left at its next start.
 */
export async function endRunAt(runId: string, org: OrgId): Promise<void> {
  try {
    await cleanupActivities(org).endRun(runId);
  } catch {
    log.warn('cleanup failed; the site sweeps it at its next start', { runId, org });
  }
}
