/**
 * A one-machine cluster for the benchmarks with every site worker in a process of its own, as
 * deployments run them (one worker per organisation, on its own machine): the coordinator and the
 * researcher's client here, each site through test/support/site-worker-processes.ts. In one
 * process (demo/local-cluster.ts) the sites share one event loop and libuv's four threads, so a
 * site's own work per step includes waiting behind the other sites' fsyncs and WebCrypto jobs;
 * here it waits only for the machine's cores and its one Docker engine.
 */
import { Client, Connection } from '@temporalio/client';
import { parleyDataConverter } from '../activities/failure-codec.ts';
import type { AllowedImage } from '../activities/site-policy.ts';
import { LOCAL_COLLABORATION, type Federation } from '../demo/federation.ts';
import { startTemporalDevServer } from '../provision/temporal-dev-server.ts';
import { startTestCoordinator } from '../test/support/central-parts.ts';
import { startSiteProcess, type SiteProcess } from '../test/support/site-worker-processes.ts';

export interface SiteProcessCluster {
  client: Client;
  processes: SiteProcess[];
  shutdown(): Promise<void>;
}

/** Starts the cluster (the sites' processes side by side); on failure, stops what it had started. */
export async function startSiteProcessCluster(options: {
  federation: Federation;
  allowedImages: AllowedImage[];
  temporalAddress?: string;
  temporalCli?: string;
  namespace?: string;
}): Promise<SiteProcessCluster> {
  const namespace = options.namespace ?? 'default';
  const stops: Array<() => Promise<unknown>> = [];
  const shutdown = async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    stops.length = 0;
  };
  try {
    let address = options.temporalAddress;
    if (!address) {
      if (!options.temporalCli) throw new TypeError('startSiteProcessCluster needs temporalAddress or temporalCli');
      const server = await startTemporalDevServer({ executable: options.temporalCli });
      stops.push(() => server.stop());
      address = server.address;
    }
    const coordinator = await startTestCoordinator(address, namespace);
    stops.push(() => coordinator.stop());
    const processes: SiteProcess[] = [];
    stops.push(() => Promise.all(processes.map((p) => p.stop())));
    const { federation } = options;
    const started = await Promise.allSettled(federation.sites.map((site) => startSiteProcess({
      temporalAddress: address, namespace, org: site.org,
      memberDir: site.stateDir, directoryDir: federation.directoryDir, datasets: site.datasets,
      allowedImages: options.allowedImages, collaboration: LOCAL_COLLABORATION, requester: federation.requester.org,
    })));
    for (const s of started) if (s.status === 'fulfilled') processes.push(s.value);
    const failed = started.find((s) => s.status === 'rejected');
    if (failed) throw failed.reason;
    const connection = await Connection.connect({ address });
    stops.push(() => connection.close());
    // This process made every site's keys, so it reads their sealed failures in full.
    const keysOf = new Map(federation.sites.map((site) => [site.org, site.keys]));
    const client = new Client({ connection, namespace, dataConverter: parleyDataConverter({ openWith: (org) => keysOf.get(org) }) });
    return { client, processes, shutdown };
  } catch (err) {
    await shutdown();
    throw err;
  }
}
