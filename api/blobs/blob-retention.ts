/**
 * Blobs of a run are removed with the run's retention: kept while the run runs and for
 * `retentionMs` after it ended (for `parley audit export / verify / open` and the codec server,
 * which read them beside the history), and at once once Temporal no longer has the run's history
 * (its namespace retention removed it: nothing refers to the blobs any more). The outputs a
 * requester reads never are blobs (activities/types.ts StepOutcome.output), so a finished run's
 * result outlives its blobs.
 */
import { RunStatus } from '../../common/run-status.ts';
import { isParleyError, ErrorCode } from '../../common/errors.ts';
import type { Logger } from '../logger.ts';
import type { RunLauncher } from '../runs/launcher.ts';
import type { BlobDir } from './blob-dir.ts';

/** Default time a run's blobs outlive the run: a week, for audits soon after the run. */
export const DEFAULT_BLOB_RETENTION_MS = 7 * 24 * 3600 * 1000;

export interface BlobSweepDeps {
  blobs: BlobDir;
  runs: Pick<RunLauncher, 'status'>;
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
    const now = deps.now().getTime();
    const since = await deps.blobs.endedSince(runId, now);
    if (now - since < deps.retentionMs) continue;
    await deps.blobs.removeRun(runId);
    removed.push(runId);
  }
  if (removed.length > 0) deps.logger.info('run blobs removed', { runs: removed.length });
  return removed;
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
