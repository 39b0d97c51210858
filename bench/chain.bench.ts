/**
 * The example chain (examples/chains/cohort-mean.yaml) end to end over three sites, each with its
 * own copy of an example registry: wall time from the start to the sealed result, against the
 * sum of its containers' own run times and against its critical path (each round's slowest
 * container, added up). What is left over is Parley's: Temporal's round trips, the sites'
 * opening and sealing, and the skew between a round's container starts.
 */
import { randomInt } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Client } from '@temporalio/client';
import type Docker from 'dockerode';
import type { ChainResult, ChainSpec } from '../common/chain.ts';
import type { OrgId } from '../common/ids.ts';
import { readChainOutputs, statisticsOf } from '../researcher/chain-result.ts';
import { createFederation, federationSigner, siteDepsOf, type Federation } from '../demo/federation.ts';
import { startLocalCluster } from '../demo/local-cluster.ts';
import { exampleAllowList, exampleChain, exampleRegistryFile } from '../demo/example-chain.ts';
import type { ExampleImages } from '../provision/images.ts';
import { openChainOutputs, startChain } from '../researcher/runs.ts';
import { retryFailedRuns, type FailedRun } from './failed-runs.ts';
import { cleanUpAfterBench, type Leftovers } from './run-leftovers.ts';
import { median, round } from './stats.ts';
import { summarise, timedRun, type RunsSummary, type TimedRun } from './step-rounds.ts';

const LETTERS = ['a', 'b', 'c'] as const;
// Organisations of their own: with TEMPORAL_ADDRESS the server may be shared.
const SITES: OrgId[] = LETTERS.map((l) => `bench-chain-${l}`);
const REQUESTER = 'bench-chain-researcher';

export interface ChainBench {
  name: string;
  chain: string;
  /** The secure-sum protocol the chain file names. */
  protocol: string;
  sites: number;
  summary: RunsSummary;
  /** Per round, in order: its step, how many sites ran it, the median of its slowest container. */
  rounds: Array<{ step: string; sites: number; slowestContainerMedianMs: number }>;
  /** Median wall time over median Σ containerMs, and over the median critical path. */
  wallOverContainerSum: number;
  wallOverCriticalPath: number;
  /** The machine's 1-minute load average when the benchmark started and ended: others' work included. */
  loadAverage: { start: number; end: number };
  /** Runs that failed and were not timed (each was tried again). */
  failedRuns: FailedRun[];
  leftoversRemoved: Leftovers;
}

export async function benchChain(options: {
  docker: Docker;
  temporalAddress?: string;
  temporalCli?: string;
  images: ExampleImages;
  runs: number;
  log: (line: string) => void;
  /** The chain to run; the example chain by default. */
  chain?: ChainSpec;
}): Promise<ChainBench> {
  const loadAtStart = loadavg()[0]!;
  const chain = options.chain ?? await exampleChain(options.images);
  const secureSum = chain.steps.find((s) => s.kind === 'secure-sum');
  const stateDir = await mkdtemp(join(tmpdir(), 'parley-bench-chain-'));
  const runIds: string[] = [];
  let leftoversRemoved: Leftovers = { containers: 0, volumes: 0 };
  const measured: TimedRun[] = [];
  const failedRuns: FailedRun[] = [];
  try {
    const files = new Map(SITES.map((org, i) => [org, { patients: exampleRegistryFile(LETTERS[i]!) }] as const));
    const federation = await createFederation({ stateDir, counts: new Map(SITES.map((org) => [org, 0n])), requester: REQUESTER, files });
    const { images } = options;
    const cluster = await startLocalCluster({
      ...(options.temporalAddress ? { temporalAddress: options.temporalAddress } : {}),
      ...(options.temporalCli ? { temporalCli: options.temporalCli } : {}),
      sites: federation.sites.map((site) => siteDepsOf(site, federation, options.docker, exampleAllowList(images))),
    });
    try {
      const once = () => retryFailedRuns(
        'example chain',
        () => {
          const runId = `bench-chain-${randomInt(1e9)}`;
          runIds.push(runId);
          return runId;
        },
        (runId) => runOnce(cluster.client, federation, chain, runId),
        failedRuns,
        options.log,
      );
      await once(); // warm-up: first polls of the sites' task queues, page cache
      for (let i = 0; i < options.runs; i++) {
        const run = await once();
        measured.push(run);
        options.log(`  chain run ${i + 1}/${options.runs}: ${Math.round(run.wallMs)} ms; Σ containers ${Math.round(run.containerSumMs)} ms, critical path ${Math.round(run.criticalPathMs)} ms`);
      }
    } finally {
      await cluster.shutdown();
    }
  } finally {
    leftoversRemoved = await cleanUpAfterBench(options.docker, runIds, stateDir, options.log);
  }
  const summary = summarise(measured);
  return {
    name: `example chain ${chain.name}, ${SITES.length} sites`,
    chain: chain.name,
    protocol: secureSum?.kind === 'secure-sum' ? secureSum.protocol : 'none',
    sites: SITES.length,
    summary,
    rounds: measured[0]!.rounds.map((r, i) => ({ step: r.step, sites: r.sites, slowestContainerMedianMs: round(median(measured.map((m) => m.rounds[i]!.slowestContainerMs)), 1) })),
    wallOverContainerSum: round(summary.wall.medianMs / summary.containerSum.medianMs, 3),
    wallOverCriticalPath: round(summary.wall.medianMs / summary.criticalPath.medianMs, 3),
    loadAverage: { start: round(loadAtStart, 2), end: round(loadavg()[0]!, 2) },
    failedRuns,
    leftoversRemoved,
  };
}

/** One run, timed from the start to the sealed result; the statistics are then opened and checked. */
async function runOnce(client: Client, federation: Federation, chain: ChainSpec, runId: string): Promise<TimedRun> {
  const t0 = performance.now();
  const handle = await startChain(client, { chain, participants: SITES, requester: REQUESTER, signer: federationSigner(federation) }, runId);
  const result = (await handle.result()) as ChainResult;
  const wallMs = performance.now() - t0;
  const stats = statisticsOf(readChainOutputs(chain, await openChainOutputs(result, federation.requester, federation.directory)));
  if (!stats || stats.count === 0) throw new Error(`The example chain's run ${runId} gave no statistics.`);
  return timedRun(wallMs, result.steps);
}
