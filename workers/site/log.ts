/**
 * The site process's log: a fixed message plus fields, as JSON lines (`--json-logs`) or as text,
 * on stderr. The SDK's own log goes through it too. Never secrets: callers pass ids, counts and
 * digests only, and Temporal's task tokens are dropped here.
 */
import { DefaultLogger, Runtime, type LogLevel } from '@temporalio/worker';

export type SiteLogLevel = 'debug' | 'info' | 'warn' | 'error';
export type SiteLog = (level: SiteLogLevel, message: string, fields?: Record<string, unknown>) => void;

/** A log writing to `write` (one line per entry), as JSON lines or as text. */
export function createSiteLog(write: (line: string) => void, options: { json: boolean }): SiteLog {
  return (level, message, fields = {}) => {
    const time = new Date().toISOString();
    if (options.json) write(JSON.stringify({ time, level, message, ...fields }));
    else write(`${time} [${level.toUpperCase()}] ${message}${Object.keys(fields).length > 0 ? ` ${JSON.stringify(fields)}` : ''}`);
  };
}

/**
 * Installs the Temporal runtime with `log` as its logger and no signal handling of its own (the
 * command decides how a SIGTERM drains the worker), and sends Node's warnings to `log`. Once per
 * process.
 */
export function installSiteRuntime(log: SiteLog, level: LogLevel = 'INFO'): void {
  // A site worker has no workflows by design: not worth a warning.
  const expected = /^No workflows registered/;
  const logger = new DefaultLogger(level, (entry) => {
    if (expected.test(entry.message)) return;
    // Task tokens are Temporal's capability to complete a task: keep them out of logs.
    const { taskToken: _taskToken, ...meta } = (entry.meta ?? {}) as Record<string, unknown>;
    log(entry.level.toLowerCase() as SiteLogLevel, entry.message, meta);
  });
  Runtime.install({ logger, shutdownSignals: [] });
  // Node prints its own warnings as plain text on stderr (grpc-js warns when TLS is used with an
  // IP address, for one), which would break a JSON-lines log: they go through the log instead.
  process.removeAllListeners('warning');
  process.on('warning', (warning) => log('warn', warning.message, { warning: warning.name }));
}
