/**
 * Running `parley` in tests, in one shape: `{ code, stdout, stderr }`.
 *
 * - `parley(args)` runs the command in this process, through cli/main.ts's `main` — the dispatch,
 *   usage and error handling users get, without a process (and its TypeScript load) per call.
 * - `parleyProcess(args)` runs `node bin/parley.js …` as a real process, for what only a process
 *   shows: signals, stdin, process-wide state (Temporal's runtime, DOCKER_HOST), the command as a
 *   user types it.
 * - `startParley(args)` starts a long-running one (`server start`, `coordinator start`,
 *   `site start`) and resolves once it says it is ready; `startSiteCommand` is `site start`'s.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { main } from '../../cli/main.ts';

/** The `parley` script, as `npm run parley` and the Dockerfile start it. */
export const PARLEY_BIN = fileURLToPath(new URL('../../bin/parley.js', import.meta.url));

/** Processes started here and still running. */
const live = new Set<ChildProcess>();
// A test that timed out leaves its process running (a demo, a site worker): stop them with the
// test file's process, cleanly (SIGTERM), instead of letting them load the machine for the next.
process.once('exit', () => {
  for (const child of live) child.kill('SIGTERM');
});

/** `node bin/parley.js <args>`, forgotten here once it exits. */
function spawnParley(args: string[], env: NodeJS.ProcessEnv | undefined, stdin: 'pipe' | 'ignore'): ChildProcess {
  const child = spawn(process.execPath, [PARLEY_BIN, ...args], { env: env ?? process.env, stdio: [stdin, 'pipe', 'pipe'] });
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

/** What one `parley` printed and its exit code (null when a signal ended the process). */
export interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface ParleyOptions {
  /** The command's environment (default: this process's). */
  env?: NodeJS.ProcessEnv;
  /** Aborts the command as Ctrl-C would. */
  signal?: AbortSignal;
}

/**
 * Runs `parley <args>` in this process and collects what it prints. Commands that read stdin
 * (`--password-stdin`) or install process-wide state need `parleyProcess`.
 */
export async function parley(args: string[], options: ParleyOptions = {}): Promise<Ran> {
  let stdout = '';
  let stderr = '';
  const code = await main(args, {
    out: (line) => (stdout += `${line}\n`),
    err: (line) => (stderr += `${line}\n`),
    signal: options.signal ?? new AbortController().signal,
    env: options.env ?? process.env,
  });
  return { code, stdout, stderr };
}

export interface ProcessOptions {
  /** The process's environment (default: this process's). */
  env?: NodeJS.ProcessEnv;
  /** Piped to its stdin, then closed (default: nothing). */
  stdin?: string;
  /** Called with all of stderr so far on each chunk: to signal the process at a given moment. */
  onStderr?: (stderr: string, child: ChildProcess) => void;
  /** SIGTERM it after this long: for a command expected to end that might run until stopped. */
  stopAfterMs?: number;
}

/** Runs `node bin/parley.js <args>` as its own process, to its exit. */
export function parleyProcess(args: string[], options: ProcessOptions = {}): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawnParley(args, options.env, 'pipe');
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
      options.onStderr?.(stderr, child);
    });
    child.stdin!.end(options.stdin ?? '');
    const timer = options.stopAfterMs === undefined ? undefined : setTimeout(() => child.kill('SIGTERM'), options.stopAfterMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A long-running `parley` process: what it printed so far, its exit, and a way to stop it. */
export interface ParleyDaemon {
  name: string;
  child: ChildProcess;
  /** Resolves with its exit code (null when a signal ended it). */
  exited: Promise<number | null>;
  stdout(): string;
  stderr(): string;
  /** stdout and stderr as they came, interleaved. */
  output(): string;
  /** Sends `signal` (SIGTERM, as an init system would) unless it has ended; resolves its exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface DaemonOptions {
  /** Names it in errors (default: `parley <args>`). */
  name?: string;
  env?: NodeJS.ProcessEnv;
  /** Ready once this matches its stdout or its stderr. */
  ready: RegExp;
  /** Pushed onto this list once spawned, so an afterAll stops it even if it never got ready. */
  keepIn?: ParleyDaemon[];
}

/**
 * Starts `node bin/parley.js <args>` and resolves once `ready` matches what it printed; rejects,
 * with its output, if it exits first.
 */
export async function startParley(args: string[], options: DaemonOptions): Promise<ParleyDaemon> {
  const name = options.name ?? `parley ${args.join(' ')}`;
  const child = spawnParley(args, options.env, 'ignore');
  let stdout = '';
  let stderr = '';
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const daemon: ParleyDaemon = {
    name,
    child,
    exited,
    stdout: () => stdout,
    stderr: () => stderr,
    output: () => output,
    stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
  options.keepIn?.push(daemon);
  await new Promise<void>((resolve, reject) => {
    const check = () => {
      if (options.ready.test(stdout) || options.ready.test(stderr)) resolve();
    };
    child.stdout!.on('data', (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      stdout += text;
      output += text;
      check();
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      stderr += text;
      output += text;
      check();
    });
    void exited.then((code) => reject(new Error(`${name} exited (${code}) before it was ready:\n${output}`)));
  });
  return daemon;
}

/** The line a site worker logs once it polls its task queue. */
const SITE_STARTED = /"message":"site worker started"/;

/** `parley site start --config <file> --json-logs`, resolved once its worker runs. */
export function startSiteCommand(configFile: string, options: { env?: NodeJS.ProcessEnv; name?: string } = {}): Promise<ParleyDaemon> {
  return startParley(['site', 'start', '--config', configFile, '--json-logs'], { ready: SITE_STARTED, ...options });
}

/** The last line of a command's stdout, parsed: the one JSON line `--json` commands end with. */
export function lastJsonLine<T = Record<string, unknown>>(stdout: string): T {
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as T;
}

/** What a command printed, line by line (as its `out` or `err` calls gave them). */
export function linesOf(printed: string): string[] {
  return printed === '' ? [] : printed.replace(/\n$/, '').split('\n');
}
