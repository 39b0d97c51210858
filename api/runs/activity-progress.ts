/**
 * Reads how a run's site activities stand from its workflow history, through the Temporal client:
 * each scheduled activity whose input names a `step` and an `org`, and how it ended. The history
 * holds ids and ciphertext only, and only those two fields of each input are kept.
 *
 * Waiting is Temporal's own long poll (GetWorkflowExecutionHistory with waitNewEvent): the server
 * answers the moment a new event is written, so there is no polling loop here.
 */
import type { Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';

/** Where one site activity stands. `running` is seen only while it runs (Temporal records the start when it ends). */
export const ActivityState = {
  Scheduled: 'scheduled',
  Running: 'running',
  Done: 'done',
  Failed: 'failed',
  Cancelled: 'cancelled',
} as const;
export type ActivityState = (typeof ActivityState)[keyof typeof ActivityState];

export interface SiteActivity {
  /** The step id the site runs (a secure sum's protocol steps have ids under the chain step's). */
  step: string;
  org: string;
  state: ActivityState;
}

export interface ActivityProgress {
  /** The last history event that changed the progress: pass it back as `afterEventId` to wait for the next. */
  lastEventId: number;
  /** The workflow has closed: nothing more will change. */
  closed: boolean;
  /** In the order they were scheduled; the latest state of each. */
  activities: SiteActivity[];
}

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;
const PAGE_SIZE = 1000;
// DescribeWorkflowExecution's PendingActivityState.STARTED.
const PENDING_STARTED = 2;

function stepAndOrg(event: HistoryEvent): { step: string; org: string } | undefined {
  const attributes = event.activityTaskScheduledEventAttributes;
  // A step prepared ahead (prepareStep) names its step too, but is not the step: only runStep is.
  if (attributes?.activityType?.name === 'prepareStep') return undefined;
  const payload = attributes?.input?.payloads?.[0];
  if (!payload) return undefined;
  let input: unknown;
  try {
    input = defaultPayloadConverter.fromPayload(payload);
  } catch {
    return undefined;
  }
  if (typeof input !== 'object' || input === null) return undefined;
  const { step, org } = input as { step?: unknown; org?: unknown };
  return typeof step === 'string' && typeof org === 'string' ? { step, org } : undefined;
}

function ended(event: HistoryEvent): { scheduledEventId: number; state: ActivityState } | undefined {
  const done = event.activityTaskCompletedEventAttributes;
  if (done) return { scheduledEventId: Number(done.scheduledEventId), state: ActivityState.Done };
  const failed = event.activityTaskFailedEventAttributes ?? event.activityTaskTimedOutEventAttributes;
  if (failed) return { scheduledEventId: Number(failed.scheduledEventId), state: ActivityState.Failed };
  const cancelled = event.activityTaskCanceledEventAttributes;
  if (cancelled) return { scheduledEventId: Number(cancelled.scheduledEventId), state: ActivityState.Cancelled };
  return undefined;
}

function isClosing(event: HistoryEvent): boolean {
  return Boolean(event.workflowExecutionCompletedEventAttributes ?? event.workflowExecutionFailedEventAttributes
    ?? event.workflowExecutionCanceledEventAttributes ?? event.workflowExecutionTerminatedEventAttributes
    ?? event.workflowExecutionTimedOutEventAttributes ?? event.workflowExecutionContinuedAsNewEventAttributes);
}

// Workflow tasks come and go between activities; only what changes the progress counts as news.
function isRelevant(event: HistoryEvent): boolean {
  return Boolean(event.activityTaskScheduledEventAttributes ?? ended(event)) || isClosing(event);
}

function lastRelevantId(events: HistoryEvent[]): number {
  for (let i = events.length - 1; i >= 0; i -= 1) if (isRelevant(events[i]!)) return Number(events[i]!.eventId);
  return 0;
}

/**
 * The run's site activities. With `afterEventId` and `waitMs`, holds the answer until the history
 * has an activity event after that one, the run closes, `waitMs` passes or `signal` aborts.
 */
export async function readActivityProgress(
  client: Client,
  runId: string,
  options: { afterEventId?: number; waitMs?: number; signal?: AbortSignal; callTimeoutMs: number },
): Promise<ActivityProgress> {
  const { namespace } = client.options;
  const events: HistoryEvent[] = [];
  const waitUntil = Date.now() + (options.waitMs ?? 0);
  let token: Uint8Array | undefined;
  let lastPageSize = 0;
  let closed = false;
  for (;;) {
    const caughtUp = token !== undefined && lastPageSize < PAGE_SIZE;
    if (caughtUp) {
      const waitMore = options.afterEventId !== undefined && lastRelevantId(events) <= options.afterEventId && Date.now() < waitUntil && !options.signal?.aborted;
      if (!waitMore) break;
    }
    // Once caught up, the next call is the long poll: it returns at the next event.
    const controller = new AbortController();
    const stop = () => controller.abort();
    options.signal?.addEventListener('abort', stop, { once: true });
    const timer = setTimeout(stop, caughtUp ? Math.max(0, waitUntil - Date.now()) : options.callTimeoutMs);
    try {
      const page = await client.withAbortSignal(controller.signal, () => client.workflowService.getWorkflowExecutionHistory({
        namespace, execution: { workflowId: runId }, maximumPageSize: PAGE_SIZE, waitNewEvent: true, ...(token ? { nextPageToken: token } : {}),
      }));
      const received = page.history?.events ?? [];
      events.push(...received);
      lastPageSize = received.length;
      if (!page.nextPageToken || page.nextPageToken.length === 0) {
        closed = events.some(isClosing);
        break;
      }
      token = page.nextPageToken;
    } catch (err) {
      // The wait running out, or the HTTP client leaving, ends a long poll; anything else is real.
      if (caughtUp && controller.signal.aborted) break;
      throw err;
    } finally {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', stop);
    }
  }

  const byScheduledId = new Map<number, SiteActivity & { activityId: string }>();
  for (const event of events) {
    const at = stepAndOrg(event);
    if (at) {
      byScheduledId.set(Number(event.eventId), { ...at, activityId: event.activityTaskScheduledEventAttributes!.activityId ?? '', state: ActivityState.Scheduled });
      continue;
    }
    const end = ended(event);
    const activity = end && byScheduledId.get(end.scheduledEventId);
    if (activity) activity.state = end.state;
  }
  if (!closed && [...byScheduledId.values()].some((a) => a.state === ActivityState.Scheduled)) {
    // Temporal writes an activity's start event only when it ends; the pending list says which run now.
    const description = await client.withDeadline(Date.now() + options.callTimeoutMs, () =>
      client.workflowService.describeWorkflowExecution({ namespace, execution: { workflowId: runId } }));
    const started = new Set((description.pendingActivities ?? []).filter((p) => p.state === PENDING_STARTED).map((p) => p.activityId));
    for (const activity of byScheduledId.values()) {
      if (activity.state === ActivityState.Scheduled && started.has(activity.activityId)) activity.state = ActivityState.Running;
    }
  }
  return {
    lastEventId: lastRelevantId(events),
    closed,
    activities: [...byScheduledId.values()].map(({ step, org, state }) => ({ step, org, state })),
  };
}
