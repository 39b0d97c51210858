/**
 * Runs that failed during a benchmark. A failed run is not a timing: it is recorded with its
 * reason and reported beside the figures, and the run is tried again — up to a limit, so that a
 * benchmark on a busy machine still gives figures while a broken setup still stops it.
 */

export interface FailedRun {
  runId: string;
  /** What was being measured, e.g. "additive, 10 sites". */
  what: string;
  /** The innermost failure's first line (a step failure names the step and site). */
  reason: string;
}

/** The innermost cause's message, first line: a WorkflowFailedError wraps the step's own. */
export function failureReason(err: unknown): string {
  let innermost: unknown = err;
  while (innermost instanceof Error && innermost.cause instanceof Error) innermost = innermost.cause;
  const message = innermost instanceof Error ? innermost.message : String(innermost);
  return message.split('\n')[0]!;
}

/**
 * Calls `attempt` with a fresh run id until one succeeds; each failure is pushed to `failures`.
 * Throws the last failure once `maxFailures` runs of this measurement have failed.
 */
export async function retryFailedRuns<T>(
  what: string,
  newRunId: () => string,
  attempt: (runId: string) => Promise<T>,
  failures: FailedRun[],
  log: (line: string) => void,
  maxFailures = 2,
): Promise<T> {
  for (let failed = 0; ; ) {
    const runId = newRunId();
    try {
      return await attempt(runId);
    } catch (err) {
      failures.push({ runId, what, reason: failureReason(err) });
      log(`  ${what}: run ${runId} failed (${failures.at(-1)!.reason}); not timed${failed + 1 < maxFailures ? ', trying again' : ''}`);
      if (++failed >= maxFailures) throw err;
    }
  }
}
