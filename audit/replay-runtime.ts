/**
 * The Temporal runtime for a process that only replays. Replaying a changed workflow makes Core
 * warn about the nondeterminism on stderr; `parley audit replay` reports it itself, worded for
 * people, so only errors get through here.
 */
import { DefaultLogger, Runtime } from '@temporalio/worker';

/** Installs a runtime that logs errors only, unless one is installed already (then a no-op). */
export function installReplayRuntime(): void {
  if (Runtime._instance) return;
  const logger = new DefaultLogger('ERROR', (entry) => {
    process.stderr.write(`${new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString()} [${entry.level}] ${entry.message}\n`);
  });
  Runtime.install({ logger, shutdownSignals: [], telemetryOptions: { logging: { forward: {}, filter: { core: 'ERROR', other: 'ERROR' } } } });
}
