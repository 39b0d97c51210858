/**
 * The benchmarks' one-machine cluster, its site workers either all in this process beside the
 * coordinator (demo/local-cluster.ts, as the demo runs them) or each in a process of its own, as
 * deployments run them (one worker per organisation, on its own machine): the coordinator and the
 * researcher's client here, each site through test/support/site-worker-processes.ts. In one
 * process the sites share one event loop and libuv's four threads; apart, each site has its own,
 * but on one 2-core machine their ten runtimes then compete for the same cores (measured: the
 * additive sites' own work per step 57 ms apart against 29 ms together, README).
 */
import { Client, Connection } from '@temporalio/client';
import type Docker from 'dockerode';
import { parleyDataConverter } from '../activities/failure-codec.ts';
import type { AllowedImage } from '../activities/site-policy.ts';
import { LOCAL_COLLABORATION, siteDepsOf, type Federation } from '../demo/federation.ts';
import { startLocalCluster } from '../demo/local-cluster.ts';
import { startTemporalDevServer } from '../provision/temporal-dev-server.ts';
import { startTestCoordinator } from '../test/support/central-parts.ts';
import { startSiteProcess, type SiteProcess } from '../test/support/site-worker-processes.ts';

/** Where a benchmark's site workers run. */
export type SitesIn = 'a process each' | 'this process';

export interface BenchCluster {
  client: Client;
  shutdown(): Promise<void>;
}

/** Starts the federation's cluster with its sites where `sitesIn` says (default this process). */
export function startBenchCluster(options: {
  federation: Federation;
  allowedImages: AllowedImage[];
  docker: Docker;
  sitesIn?: SitesIn;
  temporalAddress?: string;
  temporalCli?: string;
}): Promise<BenchCluster> {
  const { federation, allowedImages, docker, sitesIn = 'this process' } = options;
  const temporal = {
    ...(options.temporalAddress ? { temporalAddress: options.temporalAddress } : {}),
    ...(options.temporalCli ? { temporalCli: options.temporalCli } : {}),
  };
  return sitesIn === 'a process each'
    ? startSiteProcessCluster({ ...temporal, federation, allowedImages })
    : startLocalCluster({ ...temporal, sites: federation.sites.map((site) => siteDepsOf(site, federation, docker, allowedImages)) });
}

/** Starts the cluster with a process per site (started side by side); on failure, stops what it had started. */
async function startSiteProcessCluster(options: {
  federation: Federation;
  allowedImages: AllowedImage[];
  temporalAddress?: string;
  temporalCli?: string;
  namespace?: string;
}): Promise<BenchCluster> {
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
    return { client, shutdown };
  } catch (err) {
    await shutdown();
    throw err;
  }
}
