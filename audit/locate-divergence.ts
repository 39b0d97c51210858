/**
 * Finds the history event at which replay diverged. Core names the event in some messages
 * ("No command scheduled for event HistoryEvent(id: 5, ActivityTaskScheduled)") but not in
 * others ("Activity type of scheduled event 'runStep' does not match activity type of activity
 * command 'endRun'"). For those, replaying prefixes of the history (each ending where a workflow
 * task was about to be scheduled) finds the first workflow task whose commands differ; the event
 * is the one among that task's commands that the message describes.
 */
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import { Worker, type WorkflowBundle } from '@temporalio/worker';
import { eventTypeName, type HistoryJson } from './audit-bundle.ts';
import { replayWorkerOptions } from './replay-worker-options.ts';

type Event = HistoryJson['events'][number];

export interface DivergencePoint {
  eventId: number;
  eventType: string;
}

const NAMED_EVENT = /HistoryEvent\(id: (\d+)/;
const ACTIVITY_MISMATCH = /Activity (type|id) of scheduled event '([^']*)' does not match/;

const idOf = (event: Event) => Number(event.eventId);
const pointOf = (event: Event): DivergencePoint => ({ eventId: idOf(event), eventType: eventTypeName(event) });

/** The `workflowTaskCompletedEventId` of a command event (ActivityTaskScheduled, TimerStarted…). */
function completedBy(event: Event): number | undefined {
  for (const [key, value] of Object.entries(event)) {
    if (key.endsWith('EventAttributes') && value && typeof value === 'object') {
      const id = (value as Record<string, unknown>).workflowTaskCompletedEventId;
      if (id !== undefined) return Number(id);
    }
  }
  return undefined;
}

/** The event among `commands` that the core's mismatch message describes, else the first. */
function describedCommand(commands: Event[], detail: string): Event | undefined {
  const match = ACTIVITY_MISMATCH.exec(detail);
  if (match) {
    const [, what, value] = match;
    const found = commands.find((event) => {
      const attrs = event.activityTaskScheduledEventAttributes as { activityId?: string; activityType?: { name?: string } } | undefined;
      return what === 'type' ? attrs?.activityType?.name === value : attrs?.activityId === value;
    });
    if (found) return found;
  }
  return commands[0];
}

/**
 * The event replay of `history` against `bundle` diverged at, or undefined when it cannot tell.
 * @param detail the replayer's nondeterminism message.
 */
export async function locateDivergence(history: HistoryJson, workflowId: string, detail: string, bundle: WorkflowBundle): Promise<DivergencePoint | undefined> {
  const named = NAMED_EVENT.exec(detail);
  const events = history.events;
  if (named) {
    const event = events.find((e) => idOf(e) === Number(named[1]));
    return event ? pointOf(event) : { eventId: Number(named[1]), eventType: 'Unknown' };
  }
  // Prefix k ends just before the (k+1)-th WorkflowTaskScheduled: workflow tasks 1..k and the
  // commands they recorded. Once a prefix fails every longer one does, so a binary search finds
  // the first failing one. Each prefix gets its own replay worker, so nothing a failed one
  // cached reaches the next. The first WorkflowTaskScheduled is skipped: a prefix ending before
  // it holds no workflow task, and the replayer would wait for one forever.
  const cuts = events.flatMap((e, i) => (e.eventType === 'EVENT_TYPE_WORKFLOW_TASK_SCHEDULED' ? [i] : [])).slice(1);
  cuts.push(events.length);
  const fails = (cut: number) =>
    Worker.runReplayHistory(replayWorkerOptions(bundle, 'parley-audit-locate'), historyFromJSON({ events: events.slice(0, cut) }), workflowId).then(
      () => false,
      () => true,
    );
  let low = 0;
  let high = cuts.length - 1;
  if (!(await fails(cuts[high]!))) return undefined;
  while (low < high) {
    const mid = Math.floor((low + high) / 2);
    if (await fails(cuts[mid]!)) high = mid;
    else low = mid + 1;
  }
  const failedCut = cuts[low];
  if (failedCut === undefined) return undefined;
  const prefix = events.slice(0, failedCut);
  const completed = [...prefix].reverse().find((e) => e.eventType === 'EVENT_TYPE_WORKFLOW_TASK_COMPLETED');
  if (!completed) return undefined;
  const commands = prefix.filter((e) => completedBy(e) === idOf(completed));
  return pointOf(describedCommand(commands, detail) ?? completed);
}
