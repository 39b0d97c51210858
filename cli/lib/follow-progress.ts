/**
 * Follows a run until it ends, printing a line whenever a step at a site changes state. Each
 * request is the API's long poll (`?wait=&after=`): it returns when something changed, so there
 * is no sleep loop here.
 */
import type { RunProgressView, RunView } from '../../activities/api-client.ts';
import { RunStatus } from '../../common/run-status.ts';
import type { CommandIo } from './command.ts';
import { callApi } from './session.ts';
import type { Session } from './session.ts';

// Short enough that Ctrl-C is noticed soon, long enough to be one request per change.
const WAIT_SECONDS = 10;

/** One progress line: `preprocess      @ registry-a  running` (a protocol step shows its own id). */
export function progressLine(site: RunProgressView['sites'][number]): string {
  const step = site.siteStep === site.step ? site.step : `${site.step} (${site.siteStep})`;
  return `  ${step.padEnd(24)} @ ${site.org.padEnd(16)} ${site.state}`;
}

/**
 * Prints changes until the run is no longer running or `io.signal` aborts; returns the run's
 * last status. `quiet` follows without printing (for --json).
 */
export async function followProgress(session: Session, runId: string, io: CommandIo, quiet: boolean): Promise<RunView['status']> {
  const shown = new Map<string, string>();
  let progress = await callApi(session, `Reading the progress of ${runId}`, (c) => c.runProgress(runId));
  for (;;) {
    for (const site of progress.sites) {
      const key = `${site.siteStep}@${site.org}`;
      if (shown.get(key) === site.state) continue;
      shown.set(key, site.state);
      if (!quiet) io.err(progressLine(site));
    }
    if (progress.status !== RunStatus.Running || io.signal.aborted) return progress.status;
    const after = progress.cursor;
    progress = await callApi(session, `Reading the progress of ${runId}`, (c) => c.runProgress(runId, { waitSeconds: WAIT_SECONDS, after }));
  }
}
