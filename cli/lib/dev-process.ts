/**
 * The background processes of `parley dev`: started detached (their own session, stdio to a log
 * file), so they outlive the command that started them; found again by pid; stopped with SIGTERM,
 * then SIGKILL after a grace period.
 */
import { spawn } from 'node:child_process';
import { open, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { ErrorCode, ParleyError } from '../../common/errors.ts';

/** The `parley` script, as `npm run parley` starts it. */
export const PARLEY_SCRIPT = fileURLToPath(new URL('../../bin/parley.js', import.meta.url));

/** One background process as the dev state records it. */
export interface DevProcess {
  name: string;
  pid: number;
  log: string;
  /** What it serves (host:port, URL), when it serves something. */
  address?: string;
  /** A word its command line holds, checked before signalling: a pid may be reused after a reboot. */
  marker: string;
  /** ISO time it was started. */
  startedAt: string;
}

/** True when `pid` is a live process whose command line still holds `marker` (a reused pid is not ours). */
export async function isAlive(proc: Pick<DevProcess, 'pid' | 'marker'>): Promise<boolean> {
  try {
    process.kill(proc.pid, 0);
  } catch {
    return false;
  }
  const cmdline = await readFile(`/proc/${proc.pid}/cmdline`, 'utf8').catch(() => undefined);
  if (cmdline === undefined) return true;
  // A zombie (exited, not yet reaped) has an empty command line: it is not running.
  return cmdline.includes(proc.marker);
}

async function logTail(log: string, lines = 15): Promise<string> {
  const text = await readFile(log, 'utf8').catch(() => '');
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

/**
 * Starts `command args` detached with stdout and stderr appended to `log`, and resolves once the
 * log matches `ready` (the process's own "I am ready" line, not a poll of its port).
 * @throws ParleyError Prerequisite when it exits first or is not ready within `timeoutMs`.
 */
export async function startDetached(options: {
  name: string;
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  log: string;
  ready: RegExp;
  marker: string;
  timeoutMs?: number;
  signal?: AbortSignal;
}): Promise<{ process: DevProcess; match: RegExpMatchArray }> {
  const handle = await open(options.log, 'a', 0o600);
  const startOffset = (await handle.stat()).size;
  const child = spawn(options.command, options.args, { env: options.env, stdio: ['ignore', handle.fd, handle.fd], detached: true });
  let exited: number | null | undefined;
  child.once('exit', (code, signal) => (exited = code ?? (signal ? 128 : null)));
  // Listened for before anything is awaited: 'spawn' fires on the next tick.
  const started = new Promise<number>((resolve, reject) => {
    child.once('spawn', () => resolve(child.pid!));
    child.once('error', (err) => reject(new ParleyError(ErrorCode.Prerequisite, `${options.name} could not be started (${err.message}). Check that ${options.command} exists and is executable.`)));
  });
  const spawned = await started.finally(() => handle.close());
  const timeoutMs = options.timeoutMs ?? 120_000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = (await readFile(options.log, 'utf8')).slice(startOffset);
    const match = text.match(options.ready);
    if (match) {
      // Not ours to wait for any more: it keeps running after this command returns.
      child.unref();
      return { process: { name: options.name, pid: spawned, log: options.log, marker: options.marker, startedAt: new Date().toISOString() }, match };
    }
    if (exited !== undefined || Date.now() > deadline || options.signal?.aborted) {
      if (exited === undefined) await stopProcess({ pid: spawned, marker: options.marker }, 2_000);
      const why = exited !== undefined ? `exited (code ${exited}) before it was ready` : options.signal?.aborted ? 'was interrupted before it was ready' : `was not ready within ${timeoutMs / 1000} s`;
      throw new ParleyError(ErrorCode.Prerequisite, `${options.name} ${why}. The end of its log ${options.log}:\n${await logTail(options.log)}\nFix what it says, then run \`parley dev up\` again.`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** SIGTERM, then SIGKILL once `graceMs` has passed; resolves when the process is gone. True when it had to be killed. */
export async function stopProcess(proc: Pick<DevProcess, 'pid' | 'marker'>, graceMs: number): Promise<boolean> {
  if (!(await isAlive(proc))) return false;
  process.kill(proc.pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    if (!(await isAlive(proc))) return false;
  }
  try {
    process.kill(proc.pid, 'SIGKILL');
  } catch {
    return false;
  }
  while (await isAlive(proc)) await new Promise((r) => setTimeout(r, 100));
  return true;
}
