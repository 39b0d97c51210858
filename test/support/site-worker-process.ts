/**
 * One site worker in a process of its own, for the load test and the benchmarks: its memory is
 * then the worker's alone, not shared with the test's Temporal client, API and coordinator. The
 * parent (./site-worker-processes.ts) forks it with its setup as JSON in PARLEY_SITE_SETUP and
 * talks to it over the IPC channel:
 *
 *   child → parent  { type: 'ready' }                 the worker polls `site.<org>`
 *   parent → child  { type: 'sample', gc: boolean }   answer { type: 'memory', … } (after a full GC when asked)
 *   parent → child  { type: 'stop' }                  shut the worker down and exit 0
 *
 * It builds the worker `parley site start` and the one-machine cluster build (buildSiteWorker),
 * with the federation's keys read from their key files and the API's blob store reached with the
 * site's own credential.
 */
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { createApiClient } from '../../activities/api-client.ts';
import { apiBlobStore } from '../../activities/blob-store.ts';
import { fileKeyDirectory } from '../../activities/key-directory.ts';
import { readKeyFile } from '../../activities/key-file.ts';
import { createRunLedger } from '../../activities/run-ledger.ts';
import { DEFAULT_MIN_MODULUS, DEFAULT_MIN_SITES, NO_PRIVACY_POLICY, type AllowedImage } from '../../activities/site-policy.ts';
import { installQuietRuntime } from '../../demo/local-cluster.ts';
import { createDockerClient } from '../../provision/docker-engine.ts';
import { buildSiteWorker } from '../../workers/site/build-site-worker.ts';

/** What the parent passes: plain JSON. */
export interface SiteProcessSetup {
  temporalAddress: string;
  namespace: string;
  org: string;
  /** The member's directory of the federation (demo/federation.ts): keys.json lives there. */
  memberDir: string;
  /** The federation's directory of public keys. */
  directoryDir: string;
  datasets: Record<string, string>;
  allowedImages: AllowedImage[];
  collaboration: string;
  requester: string;
  blobs?: { apiUrl: string; credential: string; thresholdBytes?: number };
  stepLimits?: { sendBytes?: number; messages?: number };
  containerLimits?: { memoryBytes?: number };
  maxConcurrentSteps?: number;
}

/** The worker's memory, in bytes. `peakRss` is the most the process has held since it started. */
export interface SiteProcessMemory {
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  peakRss: number;
}

type ParentMessage = { type: 'sample'; gc: boolean } | { type: 'stop' };

function memory(): SiteProcessMemory {
  const { rss, heapUsed, external, arrayBuffers } = process.memoryUsage();
  // maxRSS is in kibibytes (getrusage's ru_maxrss on Linux).
  return { rss, heapUsed, external, arrayBuffers, peakRss: process.resourceUsage().maxRSS * 1024 };
}

async function main(): Promise<void> {
  const setup = JSON.parse(process.env.PARLEY_SITE_SETUP ?? '') as SiteProcessSetup;
  installQuietRuntime();
  const keys = await readKeyFile(join(setup.memberDir, 'keys.json'));
  const native = await NativeConnection.connect({ address: setup.temporalAddress });
  const connection = await Connection.connect({ address: setup.temporalAddress });
  const client = new Client({ connection, namespace: setup.namespace });
  const worker = await buildSiteWorker({
    connection: native, client, namespace: setup.namespace,
    ...(setup.maxConcurrentSteps !== undefined ? { maxConcurrentSteps: setup.maxConcurrentSteps } : {}),
    deps: {
      org: setup.org, keys, docker: createDockerClient(), directory: fileKeyDirectory(setup.directoryDir),
      datasets: setup.datasets, allowedImages: setup.allowedImages,
      policy: {
        collaborations: { [setup.collaboration]: { requesters: [setup.requester], datasets: Object.keys(setup.datasets) } },
        minSites: DEFAULT_MIN_SITES, minModulus: DEFAULT_MIN_MODULUS, privacy: NO_PRIVACY_POLICY,
      },
      stateDir: setup.memberDir, ledger: createRunLedger(join(setup.memberDir, 'runs')),
      ...(setup.blobs ? { blobs: apiBlobStore(createApiClient(setup.blobs.apiUrl, setup.blobs.credential)) } : {}),
      ...(setup.blobs?.thresholdBytes !== undefined ? { blobThresholdBytes: setup.blobs.thresholdBytes } : {}),
      ...(setup.stepLimits ? { stepLimits: setup.stepLimits } : {}),
      ...(setup.containerLimits ? { limits: setup.containerLimits } : {}),
    },
  });
  const running = worker.run();
  const gc = (globalThis as { gc?: () => void }).gc;
  process.on('message', (message: ParentMessage) => {
    if (message.type === 'sample') {
      if (message.gc) gc?.();
      process.send!({ type: 'memory', memory: memory() });
    } else if (message.type === 'stop') {
      worker.shutdown();
    }
  });
  process.send!({ type: 'ready' });
  try {
    await running;
  } finally {
    await native.close();
    await connection.close();
  }
  process.disconnect();
}

main().catch((err: unknown) => {
  process.stderr.write(`site worker process failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
