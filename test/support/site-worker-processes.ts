/**
 * Site workers each in a child process of its own (./site-worker-process.ts), so that their
 * memory can be measured honestly: the load test and the benchmarks sample it when a run ends
 * (an event), never on a timer.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { SiteProcessMemory, SiteProcessSetup } from './site-worker-process.ts';

export type { SiteProcessMemory, SiteProcessSetup } from './site-worker-process.ts';

const ENTRY = fileURLToPath(new URL('./site-worker-process.ts', import.meta.url));

export interface SiteProcess {
  org: string;
  child: ChildProcess;
  /** The worker's memory now; after a full garbage collection when `gc` (default true). */
  sample(gc?: boolean): Promise<SiteProcessMemory>;
  /** Shuts the worker down (running steps finish) and resolves once the process has exited. */
  stop(): Promise<void>;
}

/** Forks one site worker and resolves once it polls; rejects with its stderr if it exits first. */
export async function startSiteProcess(setup: SiteProcessSetup): Promise<SiteProcess> {
  // --expose-gc: a sample after a full collection measures what the worker keeps, not what it
  // has not collected yet, so growth means retention.
  const child = fork(ENTRY, [], {
    execArgv: ['--import', 'tsx', '--expose-gc'],
    env: { ...process.env, PARLEY_SITE_SETUP: JSON.stringify(setup) },
    stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
    process.stderr.write(chunk);
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    child.once('message', (message: { type: string }) => (message.type === 'ready' ? resolve() : reject(new Error(`site worker ${setup.org} said ${message.type} before it was ready`))));
    void exited.then((code) => reject(new Error(`site worker ${setup.org} exited (${code}) before it was ready:\n${stderr}`)));
  });
  // One sample at a time: answers come in the order asked.
  let queue: Promise<unknown> = Promise.resolve();
  return {
    org: setup.org,
    child,
    sample(gc = true) {
      const next = queue.then(() => new Promise<SiteProcessMemory>((resolve, reject) => {
        const onExit = () => reject(new Error(`site worker ${setup.org} exited while asked for its memory`));
        child.once('exit', onExit);
        child.once('message', (message: { type: string; memory: SiteProcessMemory }) => {
          child.off('exit', onExit);
          resolve(message.memory);
        });
        child.send({ type: 'sample', gc });
      }));
      queue = next.catch(() => undefined);
      return next;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null && child.connected) child.send({ type: 'stop' });
      const code = await exited;
      if (code !== 0 && code !== null) throw new Error(`site worker ${setup.org} exited with ${code}:\n${stderr}`);
    },
  };
}
