/**
 * Replays recorded histories against workflow code with the SDK's replayer: the same bundle the
 * coordinator runs, unless a test passes another. A history replays cleanly only if today's code
 * issues exactly the commands the history recorded, in the same order.
 */
import { historyFromJSON, type History } from '@temporalio/common/lib/proto-utils.js';
import { Worker, type WorkflowBundle } from '@temporalio/worker';
import { locateDivergence } from './locate-divergence.ts';
import { replayWorkerOptions } from './replay-worker-options.ts';
import type { HistorySource } from './read-history-file.ts';

/** Why a replay did not pass. */
export const ReplayProblem = {
  /** The code issued other commands than the history recorded: it would break this run. */
  Nondeterminism: 'nondeterminism',
  /** The replay failed otherwise: a workflow task failed, or the history could not be loaded. */
  Failure: 'failure',
} as const;
export type ReplayProblem = (typeof ReplayProblem)[keyof typeof ReplayProblem];

export interface ReplayOutcome {
  file: string;
  workflowId: string;
  runId?: string;
  events: number;
  /** Absent when the history replayed cleanly. */
  problem?: {
    kind: ReplayProblem;
    /** The replayer's own explanation. */
    detail: string;
    /** The event the replay diverged at (nondeterminism only), when it can be located. */
    eventId?: number;
    eventType?: string;
  };
}

/**
 * The replayer's own explanation, without the SDK's preamble or Core's debug wrapping
 * ('Workflow activation completion failed: Failure { failure: Some(Failure { message: "…", … }) }').
 */
function detailOf(err: Error): string {
  const text = err.message.replace(/^Replay failed [^:]*Details: /, '');
  const inner = /message: "((?:[^"\\]|\\.)*)"/.exec(text);
  const message = inner ? inner[1]!.replace(/\\(.)/g, '$1') : text;
  return message.replace(/^\[TMPRL\d+\] Nondeterminism error: /, '');
}

/**
 * Replays each source in turn and says, per history, whether it passed.
 * @param bundle the workflow code: the coordinator's (workflowBundle()), or a test's variant.
 */
export async function replayHistories(sources: HistorySource[], bundle: WorkflowBundle): Promise<ReplayOutcome[]> {
  const outcomes: ReplayOutcome[] = [];
  const loadable: Array<{ source: HistorySource; history: History; outcome: ReplayOutcome }> = [];
  for (const source of sources) {
    const base: ReplayOutcome = { file: source.file, workflowId: source.workflowId, ...(source.runId ? { runId: source.runId } : {}), events: source.history.events.length };
    try {
      loadable.push({ source, history: historyFromJSON(source.history), outcome: base });
      outcomes.push(base);
    } catch (err) {
      outcomes.push({ ...base, problem: { kind: ReplayProblem.Failure, detail: `the history does not load: ${(err as Error).message}` } });
    }
  }
  if (loadable.length === 0) return outcomes;
  const results = Worker.runReplayHistories(
    replayWorkerOptions(bundle, 'parley-audit-replay'),
    loadable.map(({ source, history }) => ({ workflowId: source.workflowId, history })),
  );
  let i = 0;
  for await (const result of results) {
    const { outcome } = loadable[i]!;
    i += 1;
    if (!outcome.runId && result.runId) outcome.runId = result.runId;
    if (result.error) {
      const nondeterminism = result.error.name === 'DeterminismViolationError';
      outcome.problem = { kind: nondeterminism ? ReplayProblem.Nondeterminism : ReplayProblem.Failure, detail: detailOf(result.error) };
    }
  }
  // Located after the batch: locating replays again, and one replay worker at a time is enough.
  for (const { source, outcome } of loadable) {
    if (outcome.problem?.kind !== ReplayProblem.Nondeterminism) continue;
    // Locating is a refinement: the nondeterminism stands even when its event cannot be found.
    const point = await locateDivergence(source.history, source.workflowId, outcome.problem.detail, bundle).catch(() => undefined);
    if (point) Object.assign(outcome.problem, point);
  }
  return outcomes;
}
