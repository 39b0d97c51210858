import type { ChildProcess } from 'node:child_process';

/**
 * Stops a server process Parley or its tests started: `signal` (the server's own clean shutdown),
 * then SIGKILL once `graceMs` have passed; resolves once it has exited.
 */
export function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM', graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill(signal);
  });
}
