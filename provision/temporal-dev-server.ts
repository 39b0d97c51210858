/**
 * Starts `temporal server start-dev` as a child process on free loopback ports, for the
 * one-machine setup and for tests. Readiness is the CLI's own "Server:" line, not a poll.
 */
import { spawn } from 'node:child_process';
import { ErrorCode, ParleyError } from '../common/errors.ts';
import { freePort } from './free-port.ts';
import { stopChild } from './stop-child.ts';

export interface TemporalDevServer {
  /** host:port of the frontend gRPC service. */
  address: string;
  uiUrl?: string;
  /** Stops the server and waits for it to exit. */
  stop(): Promise<void>;
  /** SIGKILLs the server (as a crash would) and waits for it to exit: for fault tests. */
  kill(): Promise<void>;
}

export interface DevServerOptions {
  executable: string;
  /** Keep workflow histories across restarts in this SQLite file; in memory when absent. */
  dbFile?: string;
  ui?: boolean;
  /** Namespaces to create at start, besides `default` (the CLI's `--namespace`, repeated). */
  namespaces?: readonly string[];
  /** The frontend's port (default: a free one): a server restarted on its dbFile keeps its address. */
  port?: number;
  /** How long to wait for the server to come up; it usually takes about a second. */
  startTimeoutMs?: number;
}

/** Starts a dev server; throws Prerequisite when it exits or does not come up in time. */
export async function startTemporalDevServer(options: DevServerOptions): Promise<TemporalDevServer> {
  const [port, httpPort, metricsPort, uiPort] = await Promise.all([options.port ?? freePort(), freePort(), freePort(), freePort()]);
  const args = [
    'server', 'start-dev',
    '--ip', '127.0.0.1',
    '--port', String(port),
    '--http-port', String(httpPort),
    '--metrics-port', String(metricsPort),
    '--log-level', 'error',
    '--color', 'never',
    // Parley's own search attributes are none: nothing about a run's data may be indexed.
    '--dynamic-config-value', 'limit.blobSize.error=4194304',
  ];
  if (options.dbFile) args.push('--db-filename', options.dbFile);
  for (const namespace of options.namespaces ?? []) args.push('--namespace', namespace);
  if (options.ui) args.push('--ui-port', String(uiPort));
  else args.push('--headless');

  // Its own process group: a terminal's Ctrl-C goes to our group, and the server must outlive it
  // long enough for the cancelled run to clean up; we stop it ourselves afterwards.
  const child = spawn(options.executable, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const output: string[] = [];
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(failure(`did not come up within ${options.startTimeoutMs ?? 30_000} ms`, output));
    }, options.startTimeoutMs ?? 30_000);
    const onData = (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      output.push(text);
      if (/^Server:\s+\S+/m.test(output.join(''))) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString('utf8')));
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(failure(`could not be started (${err.message})`, output));
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(failure(`exited with code ${code} before it was ready`, output));
    });
  });
  child.removeAllListeners('exit');
  child.stdout?.removeAllListeners('data');
  child.stdout?.resume();
  child.stderr?.resume();

  return {
    address: `127.0.0.1:${port}`,
    uiUrl: options.ui ? `http://127.0.0.1:${uiPort}` : undefined,
    stop: () => stopChild(child, 'SIGTERM', 5_000),
    kill: () => new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    }),
  };
}

function failure(what: string, output: string[]): ParleyError {
  const tail = output.join('').split('\n').slice(-10).join('\n');
  return new ParleyError(
    ErrorCode.Prerequisite,
    `The Temporal dev server ${what}.\n${tail}\nCheck the Temporal CLI with \`temporal server start-dev\`, or set TEMPORAL_ADDRESS to a running server.`,
  );
}
