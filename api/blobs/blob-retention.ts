/**
 * Blobs of a run are removed with the run's retention: kept while the run runs and for
 * `retentionMs` after it ended (for `parley audit export / verify / open` and the codec server,
 * which read them beside the history), and at once once Temporal no longer has the run's history
 * (its namespace retention removed it: nothing refers to the blobs any more). The outputs a
 * requester reads never are blobs (activities/types.ts StepOutcome.output), so a finished run's
 * result outlives its blobs.
 *
 * Before that, at the first sweep after a run ended, the blobs its history does not refer to go:
 * those of a step's attempts that failed or were superseded by a retry (a failed attempt's outcome
 * is never recorded, so no one can ask for them). Safe once the run has ended: its history is
 * complete, and every reader — the sites, `audit export`, the codec server — reaches a blob only
 * through a reference in it.
 */
import { RunStatus } from '../../common/run-status.ts';
import { isParleyError, ErrorCode } from '../../common/errors.ts';
import type { Logger } from '../logger.ts';
import type { RunLauncher } from '../runs/launcher.ts';
import type { BlobBackend } from './blob-backend.ts';

/** Default time a run's blobs outlive the run: a week, for audits soon after the run. */
export const DEFAULT_BLOB_RETENTION_MS = 7 * 24 * 3600 * 1000;

export interface BlobSweepDeps {
  blobs: BlobBackend;
  runs: Pick<RunLauncher, 'status' | 'blobReferences'>;
  retentionMs: number;
  now: () => Date;
  logger: Logger;
}

/** Removes the blobs of every run past its retention; returns the runs removed. Never throws for one run. */
export async function sweepRunBlobs(deps: BlobSweepDeps): Promise<string[]> {
  const removed: string[] = [];
  for (const runId of await deps.blobs.runs()) {
    let ended: boolean;
    try {
      ended = (await deps.runs.status(runId)) !== RunStatus.Running;
    } catch (err) {
      // Temporal no longer has the run (retention), or never had it: its blobs are no one's.
      if (!isParleyError(err, ErrorCode.NotFound)) continue; // Temporal unreachable: try next sweep
      ended = true;
      await deps.blobs.endedSince(runId, 0);
    }
    if (!ended) continue;
    await pruneUnreferenced(deps, runId);
    const now = deps.now().getTime();
    const since = await deps.blobs.endedSince(runId, now);
    if (now - since < deps.retentionMs) continue;
    await deps.blobs.removeRun(runId);
    removed.push(runId);
  }
  if (removed.length > 0) deps.logger.info('run blobs removed', { runs: removed.length });
  return removed;
}

/** Removes the ended run's blobs that its history does not refer to, once; never throws. */
async function pruneUnreferenced(deps: BlobSweepDeps, runId: string): Promise<void> {
  // Marked first, so each ended run's history is read once, not at every sweep of its retention.
  if (!(await deps.blobs.markPruned(runId))) return;
  let references: Set<string>;
  try {
    references = await deps.runs.blobReferences(runId);
  } catch {
    return; // no history (retention) or Temporal unreachable: the run's retention removes them all
  }
  let removed = 0;
  for (const digest of await deps.blobs.digests(runId)) {
    if (references.has(digest)) continue;
    await deps.blobs.remove(runId, digest);
    removed += 1;
  }
  if (removed > 0) deps.logger.info('unreferenced blobs removed', { runId, blobs: removed });
}

/** Sweeps every `intervalMs` until stopped; one sweep at a time. */
export function startBlobSweeper(deps: BlobSweepDeps, intervalMs: number): { stop(): Promise<void> } {
  let running: Promise<unknown> = Promise.resolve();
  const timer = setInterval(() => {
    running = running.then(() => sweepRunBlobs(deps)).catch((err: unknown) => deps.logger.warn('blob sweep failed', { error: (err as Error).name }));
  }, intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
