/**
 * Activity stubs routed to one site's task queue. Every call at a site goes to `site.<org>`,
 * so only that organisation's worker — holding its keys and data — can pick it up.
 */
import { ActivityCancellationType, ActivityFailure, ApplicationFailure, log, proxyActivities, TimeoutFailure } from '@temporalio/workflow';
import type { SiteActivities, StepOutcome, StepPreparation, StepRequest } from '../activities/types.ts';
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

/** How long a site's worker may take none of a run's steps before the run fails naming it. */
export const DEFAULT_SITE_DOWN_TOLERANCE_MS = 15 * 60_000;

/**
 * The stubs for one site; `stepTimeoutMs` is the container's own wall-clock limit,
 * `siteDownToleranceMs` how long a step may wait on the site's queue with no worker taking it.
 */
export function siteActivities(org: OrgId, stepTimeoutMs: number, siteDownToleranceMs?: number): SiteActivities {
  return proxyActivities<SiteActivities>({
    taskQueue: siteTaskQueue(org),
    // A step no worker of the site takes — the site is down — fails after the tolerance
    // instead of waiting for ever. Temporal does not retry a schedule-to-start timeout (the
    // retry would wait on the same queue), so this bounds each attempt's wait: the first one, or
    // the retry after a worker died in the middle of a step (noticed by the heartbeat timeout).
    ...(siteDownToleranceMs === undefined ? {} : { scheduleToStartTimeout: siteDownToleranceMs }),
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
    // Only transient faults retry (the rest are non-retryable below), and the usual one is a
    // central part restarting: a step needs the API (public keys, blobs), and a crashed API is
    // back after seconds, not within three attempts a second apart (the fault suite,
    // test/faults/, kills it mid-step). Backing off to 30 s, eight attempts span about 90 s.
    retry: {
      initialInterval: '1 second',
      backoffCoefficient: 2,
      maximumInterval: '30 seconds',
      maximumAttempts: 8,
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

/** "15 min", "90 s": a tolerance as a person reads it. */
function minutesOrSeconds(ms: number): string {
  return ms >= 60_000 && ms % 60_000 === 0 ? `${ms / 60_000} min` : `${Math.round(ms / 100) / 10} s`;
}

/**
 * A run's calls to its sites with the run's site-down tolerance: a step that no worker of its
 * site takes within the tolerance fails the run with ERR_SITE_DOWN naming the site, not a
 * generic timeout; that site's cleanup is then left to its worker's start-up sweep (which
 * removes the volumes of runs Temporal no longer runs), as waiting on a site that is down
 * would hold the failed run open.
 */
export class SiteCalls {
  private readonly down = new Set<OrgId>();
  private readonly toleranceMs: number;

  constructor(toleranceMs: number | undefined) {
    this.toleranceMs = toleranceMs ?? DEFAULT_SITE_DOWN_TOLERANCE_MS;
    if (!Number.isInteger(this.toleranceMs) || this.toleranceMs < 1_000) {
      throw ApplicationFailure.nonRetryable(`siteDownToleranceMs must be a whole number of milliseconds, at least 1000; got ${toleranceMs}.`, ErrorCode.InvalidInput);
    }
  }

  /** Runs one step at its site (request.org). @throws ApplicationFailure ERR_SITE_DOWN when no worker took it in time. */
  async runStep(request: StepRequest): Promise<StepOutcome> {
    try {
      return await siteActivities(request.org, request.timeoutMs, this.toleranceMs).runStep(request);
    } catch (err) {
      if (err instanceof ActivityFailure && err.cause instanceof TimeoutFailure && err.cause.timeoutType === 'SCHEDULE_TO_START') {
        this.down.add(request.org);
        throw ApplicationFailure.create({
          type: ErrorCode.SiteDown,
          nonRetryable: true,
          message: `Site "${request.org}" did not answer for ${minutesOrSeconds(this.toleranceMs)}: step "${request.step}" waited on its queue ${siteTaskQueue(request.org)} and no worker of the site took it. Ask its operator to start its worker (\`parley site start\`), then run again; its run volume is removed when the worker starts.`,
          details: [{ org: request.org, step: request.step, toleranceMs: this.toleranceMs }],
        });
      }
      throw err;
    }
  }

  /** endRunAt, except at a site found down: its worker's start-up sweep removes the run's volume. */
  async endRun(runId: string, org: OrgId): Promise<void> {
    if (this.down.has(org)) {
      log.warn('site is down: its worker removes the run volume when it starts', { runId, org });
      return;
    }
    await endRunAt(runId, org);
  }
}

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
