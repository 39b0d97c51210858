/**
 * Reads a workflow history (proto JSON) as an auditor needs it: the workflow's type, input and
 * result, each site step (`runStep` activity) with its request, outcome and times, and what is
 * wrong with the event sequence itself (a removed event, an outcome with no step).
 */
import { eventTypeName, type HistoryJson } from './audit-bundle.ts';
import { isRecord, payloadsOf } from './proto-payloads.ts';

type Event = HistoryJson['events'][number];

/** One `runStep` activity: scheduled, then (perhaps) started and closed. */
export interface StepRecord {
  scheduledEventId: number;
  /** The task queue it was routed to (`site.<org>`). */
  taskQueue: string;
  scheduledAt?: string;
  /** The StepRequest as recorded; not yet validated. */
  request: unknown;
  startedAt?: string;
  closedEventId?: number;
  closedAt?: string;
  /** How it closed: completed, failed, timed-out, canceled; undefined while open. */
  status?: 'completed' | 'failed' | 'timed-out' | 'canceled';
  /** The StepOutcome as recorded, when it completed. */
  outcome?: unknown;
}

/** A problem with the events themselves, before any envelope is looked at. */
export interface EventProblem {
  eventId?: number;
  message: string;
}

export interface HistorySteps {
  workflowType?: string;
  input: unknown;
  result: unknown;
  startedAt?: string;
  closedAt?: string;
  /** The close event's type (WorkflowExecutionCompleted…), when the history has one. */
  closedAs?: string;
  steps: StepRecord[];
  problems: EventProblem[];
  events: number;
}

const CLOSE_TYPES = new Set(['WorkflowExecutionCompleted', 'WorkflowExecutionFailed', 'WorkflowExecutionCanceled', 'WorkflowExecutionTerminated', 'WorkflowExecutionTimedOut', 'WorkflowExecutionContinuedAsNew']);
const ACTIVITY_CLOSE: Record<string, StepRecord['status']> = {
  ActivityTaskCompleted: 'completed',
  ActivityTaskFailed: 'failed',
  ActivityTaskTimedOut: 'timed-out',
  ActivityTaskCanceled: 'canceled',
};

function attributes(event: Event): Record<string, unknown> {
  for (const [key, value] of Object.entries(event)) if (key.endsWith('EventAttributes') && isRecord(value)) return value;
  return {};
}

const timeOf = (event: Event) => (typeof event.eventTime === 'string' ? event.eventTime : undefined);

/** The steps and problems of one history. */
export function readHistorySteps(history: HistoryJson): HistorySteps {
  const out: HistorySteps = { input: undefined, result: undefined, steps: [], problems: [], events: history.events.length };
  const scheduled = new Map<number, StepRecord>();
  const otherActivities = new Set<number>();
  let expected = 1;
  for (const event of history.events) {
    const id = Number(event.eventId);
    // Event ids are consecutive from 1: a gap is an event someone removed.
    if (id !== expected) {
      out.problems.push({ eventId: id, message: id > expected ? `event${id - expected > 1 ? `s ${expected}–${id - 1} are` : ` ${expected} is`} missing before event ${id}` : `event ${id} is out of order or repeated (expected ${expected})` });
    }
    expected = id + 1;
    const type = eventTypeName(event);
    const attrs = attributes(event);
    if (type === 'WorkflowExecutionStarted') {
      out.workflowType = isRecord(attrs.workflowType) && typeof attrs.workflowType.name === 'string' ? attrs.workflowType.name : undefined;
      out.input = payloadsOf(attrs.input)[0];
      out.startedAt = timeOf(event);
    } else if (CLOSE_TYPES.has(type)) {
      out.closedAs = type;
      out.closedAt = timeOf(event);
      if (type === 'WorkflowExecutionCompleted') out.result = payloadsOf(attrs.result)[0];
    } else if (type === 'ActivityTaskScheduled') {
      const name = isRecord(attrs.activityType) ? attrs.activityType.name : undefined;
      if (name !== 'runStep') {
        otherActivities.add(id);
        continue;
      }
      const record: StepRecord = {
        scheduledEventId: id,
        taskQueue: isRecord(attrs.taskQueue) && typeof attrs.taskQueue.name === 'string' ? attrs.taskQueue.name : '',
        scheduledAt: timeOf(event),
        request: payloadsOf(attrs.input)[0],
      };
      scheduled.set(id, record);
      out.steps.push(record);
    } else if (type === 'ActivityTaskStarted' || type in ACTIVITY_CLOSE) {
      const of = Number(attrs.scheduledEventId);
      const record = scheduled.get(of);
      if (!record) {
        if (!otherActivities.has(of)) out.problems.push({ eventId: id, message: `${type} refers to activity event ${of}, which is not in the history` });
        continue;
      }
      if (type === 'ActivityTaskStarted') {
        record.startedAt = timeOf(event);
        continue;
      }
      if (record.status !== undefined) out.problems.push({ eventId: id, message: `the step scheduled at event ${of} closes twice (events ${record.closedEventId} and ${id})` });
      record.status = ACTIVITY_CLOSE[type];
      record.closedEventId = id;
      record.closedAt = timeOf(event);
      if (type === 'ActivityTaskCompleted') record.outcome = payloadsOf(attrs.result)[0];
    }
  }
  if (out.closedAs === undefined) out.problems.push({ message: 'the history ends before the workflow closed: it was still running when exported, or its last events were removed' });
  if (out.closedAs !== undefined) {
    for (const step of out.steps) {
      if (step.status === undefined) out.problems.push({ eventId: step.scheduledEventId, message: `the step scheduled at event ${step.scheduledEventId} has no outcome, though the workflow closed` });
    }
  }
  return out;
}
