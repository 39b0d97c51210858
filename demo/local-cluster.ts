/**
 * The one-machine topology: a Temporal server (a dev server we start, or TEMPORAL_ADDRESS), the
 * coordinator and one site worker per organisation, in this process. Used by `parley demo`,
 * the tests and the benchmarks. Everything it starts, `shutdown()` stops.
 */
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, type Worker } from '@temporalio/worker';
import type { SiteDeps } from '../activities/site-activities.ts';
import { parleyDataConverter } from '../activities/failure-codec.ts';
import { createCoordinatorWorker } from '../workers/coordinator/worker.ts';
import { startTemporalDevServer, type TemporalDevServer } from '../provision/temporal-dev-server.ts';
import { buildSiteWorker } from '../workers/site/build-site-worker.ts';

export interface LocalClusterOptions {
  /** A running Temporal frontend (host:port); when absent a dev server is started. */
  temporalAddress?: string;
  /** The Temporal CLI used to start the dev server. */
  temporalCli?: string;
  namespace?: string;
  /**
   * One site worker each. May still be in the making (the demo's sites wait for their credentials
   * from the API): the connections and the coordinator start meanwhile.
   */
  sites: SiteDeps[] | Promise<SiteDeps[]>;
  progress?: (line: string) => void;
}

export interface LocalCluster {
  client: Client;
  address: string;
  namespace: string;
  /** Stops the workers (letting running activities finish), then the connections and server. */
  shutdown(): Promise<void>;
}

let runtimeInstalled = false;

/** Keeps the SDK's own logging to warnings: the demo prints its own progress. */
export function installQuietRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  const level = process.env.PARLEY_LOG_LEVEL === 'debug' ? 'DEBUG' : 'WARN';
  // A coordinator has no activities and a site no workflows, by design: not worth a warning.
  const expected = /^No (activities|workflows) registered/;
  const logger = new DefaultLogger(level, (entry) => {
    if (expected.test(entry.message)) return;
    // Task tokens are Temporal's capability to complete a task: keep them out of logs.
    const { taskToken: _taskToken, ...meta } = (entry.meta ?? {}) as Record<string, unknown>;
    process.stderr.write(`${new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString()} [${entry.level}] ${entry.message} ${JSON.stringify(meta)}\n`);
  });
  // Signals are the command's to handle: on Ctrl-C the run is cancelled and its cleanup needs
  // the workers still running, so the SDK must not shut them down by itself.
  Runtime.install({ logger, shutdownSignals: [] });
}

/** Starts the whole one-machine cluster; on failure, stops whatever it had started. */
export async function startLocalCluster(options: LocalClusterOptions): Promise<LocalCluster> {
  installQuietRuntime();
  const progress = options.progress ?? (() => {});
  const namespace = options.namespace ?? 'default';
  const stops: Array<() => Promise<void>> = [];
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    stops.length = 0;
  };
  try {
    let address = options.temporalAddress;
    if (!address) {
      if (!options.temporalCli) throw new TypeError('startLocalCluster needs temporalAddress or temporalCli');
      progress('Starting a Temporal dev server…');
      const server: TemporalDevServer = await startTemporalDevServer({ executable: options.temporalCli });
      stops.push(() => server.stop());
      address = server.address;
      progress(`Temporal dev server at ${address}`);
    }
    const native = await NativeConnection.connect({ address });
    stops.push(() => native.close());
    const connection = await Connection.connect({ address });
    stops.push(() => connection.close());
    // This process holds every site's keys, so its client reads their sealed failures in full.
    const keysOf = new Map<string, SiteDeps['keys']>();
    const client = new Client({ connection, namespace, dataConverter: parleyDataConverter({ openWith: (org) => keysOf.get(org) }) });

    const workers: Worker[] = [await createCoordinatorWorker({ connection: native, namespace })];
    const sites = await options.sites;
    for (const site of sites) keysOf.set(site.org, site.keys);
    for (const deps of sites) {
      // The worker `parley site start` runs, with the one-machine defaults for what site.yaml sets.
      workers.push(await buildSiteWorker({ connection: native, client, namespace, deps }));
    }
    const running = workers.map((worker) => worker.run());
    stops.push(async () => {
      for (const worker of workers) if (worker.getState() === 'RUNNING') worker.shutdown();
      await Promise.allSettled(running);
    });
    progress(`Coordinator and ${sites.length} site workers running`);
    return { client, address, namespace, shutdown: stopAll };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
