/**
 * Ring secure sum, end to end through Parley (workflow start → result opened by the researcher)
 * against the same containers run sequentially by hand (bench/ring-baseline.ts). Goal (issue 17):
 * ratio ≤ 1.0.
 */
import { randomInt } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type Docker from 'dockerode';
import type { ImageRef } from '../activities/types.ts';
import { COUNT_DATASET, createFederation, federationSigner } from '../demo/federation.ts';
import { asProtocolImage } from '../activities/site-policy.ts';
import { demoSiteNames } from '../demo/run-demo.ts';
import { DEFAULT_MODULUS, openSecureSumResult, startSecureSum } from '../researcher/runs.ts';
import type { SecureSumResult } from '../workflows/index.ts';
import { ringByHand } from './ring-baseline.ts';
import { startBenchCluster, type SitesIn } from './site-process-cluster.ts';
import { median, round } from './stats.ts';

export interface RingBench {
  name: string;
  sites: number;
  /** Where the site workers ran (absent in reports from before they could run apart: this process). */
  sitesIn?: SitesIn;
  runs: number;
  parleyMedianMs: number;
  baselineMedianMs: number;
  ratio: number;
  goalRatio: number;
  parleyRunsMs: number[];
  baselineRunsMs: number[];
}

export async function benchRing(options: {
  docker: Docker; temporalAddress?: string; temporalCli?: string; image: ImageRef; siteCounts: number[]; runs: number;
  /** Where the site workers run (default all in this process, as the demo runs them). */
  sitesIn?: SitesIn;
  log: (line: string) => void;
}): Promise<RingBench[]> {
  const largest = Math.max(...options.siteCounts);
  const orgs = demoSiteNames(largest);
  const counts = new Map(orgs.map((org) => [org, BigInt(randomInt(0, 1_000_000))]));
  const stateDir = await mkdtemp(join(tmpdir(), 'parley-bench-'));
  const federation = await createFederation({ stateDir, counts, requester: 'researcher' });
  const sitesIn = options.sitesIn ?? 'this process';
  const cluster = await startBenchCluster({ ...options, sitesIn, federation, allowedImages: [asProtocolImage(options.image)] });
  const results: RingBench[] = [];
  try {
    for (const n of options.siteCounts) {
      const participants = orgs.slice(0, n);
      const expected = participants.reduce((sum, org) => sum + counts.get(org)!, 0n);
      const sites = federation.sites.filter((s) => participants.includes(s.org)).map((s) => ({ org: s.org, datasetDir: s.datasets[COUNT_DATASET]! }));
      const parleyOnce = async () => {
        const t0 = performance.now();
        const handle = await startSecureSum(cluster.client, { participants, requester: 'researcher', dataset: COUNT_DATASET, modulus: DEFAULT_MODULUS, image: options.image, signer: federationSigner(federation) });
        const total = await openSecureSumResult((await handle.result()) as SecureSumResult, federation.requester, federation.directory, participants[0]!);
        if (total !== expected) throw new Error(`Parley's ring gave ${total}, expected ${expected}`);
        return performance.now() - t0;
      };
      const baselineOnce = async () => {
        const { total, ms } = await ringByHand(options.docker, options.image.digest, sites, DEFAULT_MODULUS);
        if (total !== expected) throw new Error(`the baseline gave ${total}, expected ${expected}`);
        return ms;
      };
      // One warm-up of each (page cache, JIT, first activity polls), then alternate the two so
      // that drift in the machine's load hits both alike.
      await parleyOnce();
      await baselineOnce();
      const parley: number[] = [];
      const baseline: number[] = [];
      for (let i = 0; i < options.runs; i++) {
        parley.push(await parleyOnce());
        baseline.push(await baselineOnce());
        options.log(`  ring ${n} sites, run ${i + 1}/${options.runs}: Parley ${Math.round(parley.at(-1)!)} ms, by hand ${Math.round(baseline.at(-1)!)} ms`);
      }
      const parleyMedianMs = median(parley);
      const baselineMedianMs = median(baseline);
      results.push({
        name: `ring secure sum, ${n} sites`,
        sites: n,
        sitesIn,
        runs: options.runs,
        parleyMedianMs: round(parleyMedianMs, 1),
        baselineMedianMs: round(baselineMedianMs, 1),
        ratio: round(parleyMedianMs / baselineMedianMs, 3),
        goalRatio: 1.0,
        parleyRunsMs: parley.map((v) => round(v, 1)),
        baselineRunsMs: baseline.map((v) => round(v, 1)),
      });
    }
  } finally {
    await cluster.shutdown();
    await rm(stateDir, { recursive: true, force: true });
  }
  return results;
}
