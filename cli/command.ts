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
