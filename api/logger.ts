/**
 * The API's structured log: a fixed message and a fields object per line. Callers pass ids,
 * statuses and durations only — never a password, token, site credential, key or request body.
 */

/** Fields of one log line: ids and numbers, nothing secret. */
export type LogFields = Record<string, string | number | boolean | null | undefined>;

/** Where the API writes its log lines. */
export interface Logger {
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

/** A logger writing one JSON object per line (`{ level, time, msg, ...fields }`) to `write`. */
export function createJsonLogger(write: (line: string) => void = (line) => process.stderr.write(`${line}\n`)): Logger {
  const emit = (level: string) => (message: string, fields: LogFields = {}) => {
    write(JSON.stringify({ level, time: new Date().toISOString(), msg: message, ...fields }));
  };
  return { info: emit('info'), warn: emit('warn'), error: emit('error') };
}

/** A logger that drops everything (tests that do not look at logs). */
export const silentLogger: Logger = { info() {}, warn() {}, error() {} };
