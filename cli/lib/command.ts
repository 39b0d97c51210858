import { parseArgs, type ParseArgsConfig } from 'node:util';

/** The shape of one `parley` command: one file per command under cli/commands/. */
export interface CommandIo {
  /** Results (stdout). */
  out: (line: string) => void;
  /** Progress and diagnostics (stderr). */
  err: (line: string) => void;
  /** Aborted on Ctrl-C / SIGTERM: long commands stop cleanly when it fires. */
  signal: AbortSignal;
  env: NodeJS.ProcessEnv;
}

export interface Command {
  name: string;
  summary: string;
  usage: string;
  /** Returns the exit code: 0 success, 1 failure, 2 bad usage. */
  run(argv: string[], io: CommandIo): Promise<number>;
}

/** Bad usage: printed with the command's usage, exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/**
 * node:util's parseArgs with its complaints (unknown option, missing value, stray argument) as a
 * UsageError: the command then exits 2 and prints its usage, whatever it parses.
 */
export function parseUsage<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}
