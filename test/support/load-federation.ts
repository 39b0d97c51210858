/**
 * A federation for load: the API (its blob store), the coordinator and three site workers, each
 * site worker in a process of its own (./site-worker-processes.ts) reaching the API with its own
 * site credential, on a Temporal server in a namespace given by the caller. Used by the load test
 * (test/e2e/load.test.ts) and `PARLEY_BENCH=load,payloads npm run bench`.
 *
 * `runMany` starts ring secure sums and example chains all at once and checks each result as it
 * arrives: a ring's total against the plain sum of the sites' counts, a chain's count and mean
 * against a plain computation over the example registries.
 */
import { randomInt } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import type Docker from 'dockerode';
import { parleyDataConverter } from '../../activities/failure-codec.ts';
import type { AllowedImage } from '../../activities/site-policy.ts';
import type { ChainResult, ChainSpec } from '../../common/chain.ts';
import { exampleAllowList, exampleChain } from '../../demo/example-chain.ts';
import { createFederation, federationSigner, type Federation } from '../../demo/federation.ts';
import type { ExampleImages } from '../../provision/images.ts';
import { readChainOutputs, statisticsOf } from '../../researcher/chain-result.ts';
import { DEFAULT_MODULUS, openChainOutputs, openSecureSumResult, startChain, startSecureSum } from '../../researcher/runs.ts';
import type { SecureSumResult } from '../../workflows/index.ts';
import { startTestApi, startTestCoordinator, type TestApi, type TestCoordinator } from './central-parts.ts';
import { columnValues, plainMoments, referenceCohort, registryPath, type Condition } from './statistics-steps.ts';
import { startSiteProcess, type SiteProcess } from './site-worker-processes.ts';
import type { SiteProcessSetup } from './site-worker-process.ts';
import { registerFederation } from './register-federation.ts';

const LETTERS = ['a', 'b', 'c'] as const;

export interface LoadFederationOptions {
  temporalAddress: string;
  namespace: string;
  docker: Docker;
  images: ExampleImages;
  /** Organisation names start with this (a test file's own, so no other file's workers share its task queues). */
  prefix: string;
  /** More images the sites allow (the probe, for the payload benchmark). */
  moreImages?: AllowedImage[];
  /** Envelopes larger than this travel as blobs (default the sites' own, 256 KiB). */
  blobThresholdBytes?: number;
  stepLimits?: { sendBytes?: number; messages?: number };
  /** The sites' container limits (site.yaml `limits:`), where a benchmark's containers need more than the defaults. */
  containerLimits?: SiteProcessSetup['containerLimits'];
}

export interface LoadFederation {
  sites: string[];
  requester: string;
  client: Client;
  api: TestApi;
  processes: SiteProcess[];
  federation: Federation;
  collaborationId: string;
  stateDir: string;
  chain: ChainSpec;
  /** The ring's expected total and the chain's plain count and mean. */
  expected: { ringTotal: bigint; chain: { count: number; mean: number } };
  startRing(runId: string): Promise<WorkflowHandle>;
  startChainRun(runId: string, chain?: ChainSpec): Promise<WorkflowHandle>;
  /** Where the API keeps a run's blobs. */
  blobDirOf(runId: string): string;
  close(): Promise<void>;
}

/** Starts everything; on failure, stops what it had started. */
export async function startLoadFederation(options: LoadFederationOptions): Promise<LoadFederation> {
  const sites = LETTERS.map((l) => `${options.prefix}-${l}`);
  const requester = `${options.prefix}-lab`;
  const stateDir = await mkdtemp(join(tmpdir(), `parley-${options.prefix}-`));
  const counts = new Map(sites.map((org) => [org, BigInt(randomInt(0, 1_000_000))]));
  const files = new Map(sites.map((org, i) => [org, { patients: registryPath(LETTERS[i]!) }] as const));
  const stops: Array<() => Promise<unknown>> = [];
  const close = async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    stops.length = 0;
  };
  try {
    stops.push(() => rm(stateDir, { recursive: true, force: true }));
    const federation = await createFederation({ stateDir, counts, requester, files });
    const connection = await Connection.connect({ address: options.temporalAddress });
    stops.push(() => connection.close());
    // Blobs leave with the run (retention 0), but only when the caller sweeps.
    const api = await startTestApi({ root: stateDir, temporal: new Client({ connection, namespace: options.namespace }), adminPassword: `admin-${randomInt(1e9)}`, blobRetentionMs: 0, blobSweepIntervalMs: 3_600_000 });
    stops.push(() => api.server.close());
    const { collaborationId, credentials } = await registerFederation(api.admin, federation, `${options.prefix}-${randomInt(1e9)}`);
    const coordinator: TestCoordinator = await startTestCoordinator(options.temporalAddress, options.namespace);
    stops.push(() => coordinator.stop());
    const allowedImages = [...exampleAllowList(options.images), ...(options.moreImages ?? [])];
    const processes: SiteProcess[] = [];
    for (const site of federation.sites) {
      const credential = credentials.get(site.org)!;
      const started = await startSiteProcess({
        temporalAddress: options.temporalAddress, namespace: options.namespace, org: site.org,
        memberDir: site.stateDir, directoryDir: federation.directoryDir, datasets: site.datasets, allowedImages,
        collaboration: collaborationId, requester,
        blobs: { apiUrl: api.server.url, credential, ...(options.blobThresholdBytes !== undefined ? { thresholdBytes: options.blobThresholdBytes } : {}) },
        ...(options.stepLimits ? { stepLimits: options.stepLimits } : {}),
        ...(options.containerLimits ? { containerLimits: options.containerLimits } : {}),
      });
      processes.push(started);
      stops.push(() => started.stop());
    }
    // This process holds every site's keys (the test made them), so it reads sealed failures in full.
    const keysOf = new Map(federation.sites.map((site) => [site.org, site.keys]));
    const client = new Client({ connection, namespace: options.namespace, dataConverter: parleyDataConverter({ openWith: (org) => keysOf.get(org) }) });
    const chain = await exampleChain(options.images);
    const signer = federationSigner(federation, collaborationId);
    return {
      sites, requester, client, api, processes, federation, collaborationId, stateDir, chain,
      expected: { ringTotal: [...counts.values()].reduce((a, b) => a + b, 0n), chain: await plainChainStatistics(chain) },
      startRing: (runId) => startSecureSum(client, { participants: sites, requester, dataset: 'registry', modulus: DEFAULT_MODULUS, image: options.images.secureSum, signer }, runId),
      startChainRun: (runId, spec = chain) => startChain(client, { chain: spec, participants: sites, requester, signer }, runId),
      blobDirOf: (runId) => join(stateDir, 'server', 'blobs', runId),
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

/** The example chain's count and mean over the three registries, computed plainly. */
async function plainChainStatistics(chain: ChainSpec): Promise<{ count: number; mean: number }> {
  const pre = chain.steps.find((s) => s.id === 'preprocess');
  const ana = chain.steps.find((s) => s.id === 'analyse');
  if (pre?.kind !== 'container' || ana?.kind !== 'container') throw new Error('unexpected example chain');
  const xs: number[] = [];
  for (const letter of LETTERS) {
    const { columns, rows } = referenceCohort(await readFile(registryPath(letter), 'utf8'), pre.args.where as unknown as Condition[]);
    xs.push(...columnValues(columns, rows, ana.args.column as string));
  }
  const { count, mean } = plainMoments(xs);
  return { count, mean };
}

/** One run's outcome. */
export interface RunOutcome {
  runId: string;
  kind: 'ring' | 'chain';
  ms: number;
  /** Empty when the result was right; otherwise what was wrong. */
  problem: string;
}

/**
 * Starts `rings` ring secure sums and `chains` example chains at once, checks each result as it
 * arrives and calls `onEnd` (awaited) after each run ends; resolves once all have.
 */
export async function runMany(load: LoadFederation, counts: { rings: number; chains: number }, onEnd: (outcome: RunOutcome) => Promise<void> = async () => {}): Promise<RunOutcome[]> {
  const tag = randomInt(1e9);
  const plan = [
    ...Array.from({ length: counts.rings }, (_, i) => ({ kind: 'ring' as const, runId: `load-ring-${tag}-${i}` })),
    ...Array.from({ length: counts.chains }, (_, i) => ({ kind: 'chain' as const, runId: `load-chain-${tag}-${i}` })),
  ];
  const one = async ({ kind, runId }: (typeof plan)[number]): Promise<RunOutcome> => {
    const t0 = performance.now();
    let problem = '';
    try {
      if (kind === 'ring') {
        const handle = await load.startRing(runId);
        const total = await openSecureSumResult((await handle.result()) as SecureSumResult, load.federation.requester, load.federation.directory, load.sites[0]!);
        if (total !== load.expected.ringTotal) problem = `total ${total}, expected ${load.expected.ringTotal}`;
      } else {
        const handle = await load.startChainRun(runId);
        const opened = await openChainOutputs((await handle.result()) as ChainResult, load.federation.requester, load.federation.directory);
        const stats = statisticsOf(readChainOutputs(load.chain, opened));
        const { count, mean } = load.expected.chain;
        if (stats?.count !== count || Math.abs(stats.mean - mean) > 1e-9 * Math.abs(mean)) problem = `count ${stats?.count} and mean ${stats?.mean}, expected ${count} and ${mean}`;
      }
    } catch (err) {
      problem = `failed: ${(err as Error).message}${(err as { cause?: Error }).cause ? ` (${(err as { cause: Error }).cause.message})` : ''}`;
    }
    const outcome = { runId, kind, ms: performance.now() - t0, problem };
    await onEnd(outcome);
    return outcome;
  };
  return Promise.all(plan.map(one));
}
