/**
 * Fifty runs at once (issue 14): 50 ring secure sums and 10 example chains started together on
 * three site workers, each in a process of its own, with the API's blob store. Reports the
 * throughput (runs ended per minute, from the first start to the last end), each kind's p50 and
 * p99 run time (its start to its checked result), and each worker's peak RSS and the heap it keeps
 * after a full GC at the end against a warm-up's. Every result is checked; a wrong one fails the
 * benchmark.
 */
import { performance } from 'node:perf_hooks';
import type Docker from 'dockerode';
import type { ExampleImages } from '../provision/images.ts';
import { runMany, startLoadFederation } from '../test/support/load-federation.ts';
import { median, percentile, round } from './stats.ts';

const MiB = 1024 * 1024;

export interface LoadBench {
  rings: number;
  chains: number;
  wallMs: number;
  runsPerMinute: number;
  ring: { p50Ms: number; p99Ms: number };
  chain: { p50Ms: number; p99Ms: number };
  /** Per site worker process: its peak RSS over the whole benchmark, and its kept heap (after a full GC) after the warm-up and at the end. */
  workers: Array<{ org: string; peakRssMiB: number; heapAfterWarmUpMiB: number; heapAfterMiB: number }>;
}

export async function benchLoad(options: { temporalAddress: string; namespace: string; docker: Docker; images: ExampleImages; rings: number; chains: number; log: (line: string) => void }): Promise<LoadBench> {
  const load = await startLoadFederation({ temporalAddress: options.temporalAddress, namespace: options.namespace, docker: options.docker, images: options.images, prefix: `bench-load-${process.pid}` });
  try {
    const warm = await runMany(load, { rings: 4, chains: 2 });
    const failed = (outcomes: typeof warm) => outcomes.filter((o) => o.problem).map((o) => `${o.runId}: ${o.problem}`);
    if (failed(warm).length > 0) throw new Error(`warm-up runs went wrong: ${failed(warm).join('; ')}`);
    const warmed = await Promise.all(load.processes.map((p) => p.sample()));
    const t0 = performance.now();
    const outcomes = await runMany(load, { rings: options.rings, chains: options.chains });
    const wallMs = performance.now() - t0;
    if (failed(outcomes).length > 0) throw new Error(`runs went wrong under load: ${failed(outcomes).join('; ')}`);
    const after = await Promise.all(load.processes.map((p) => p.sample()));
    await load.api.server.sweepBlobs();
    const times = (kind: 'ring' | 'chain') => outcomes.filter((o) => o.kind === kind).map((o) => o.ms);
    const spread = (ms: number[]) => ({ p50Ms: round(median(ms), 1), p99Ms: round(percentile(ms, 99), 1) });
    const bench: LoadBench = {
      rings: options.rings, chains: options.chains, wallMs: round(wallMs, 1),
      runsPerMinute: round(outcomes.length / (wallMs / 60_000), 1),
      ring: spread(times('ring')), chain: spread(times('chain')),
      workers: load.processes.map((p, i) => ({
        org: p.org, peakRssMiB: round(after[i]!.peakRss / MiB, 1),
        heapAfterWarmUpMiB: round(warmed[i]!.heapUsed / MiB, 1), heapAfterMiB: round(after[i]!.heapUsed / MiB, 1),
      })),
    };
    options.log(`  ${outcomes.length} runs in ${bench.wallMs} ms (${bench.runsPerMinute}/min); ring p50 ${bench.ring.p50Ms} ms p99 ${bench.ring.p99Ms} ms; chain p50 ${bench.chain.p50Ms} ms p99 ${bench.chain.p99Ms} ms`);
    for (const w of bench.workers) options.log(`  ${w.org}: peak RSS ${w.peakRssMiB} MiB, heap kept ${w.heapAfterWarmUpMiB} → ${w.heapAfterMiB} MiB`);
    return bench;
  } finally {
    await load.close();
  }
}

/** The report's rows. */
export function loadRows(bench: LoadBench, mark: string): string[] {
  const workers = bench.workers.map((w) => `${w.peakRssMiB} MiB`).join(', ');
  const heaps = bench.workers.map((w) => `${w.heapAfterWarmUpMiB} → ${w.heapAfterMiB} MiB`).join(', ');
  return [
    `| ${bench.rings} ring secure sums and ${bench.chains} example chains at once, 3 sites: throughput${mark} | ${bench.runsPerMinute} runs/min (${bench.wallMs} ms in all) | — | — | every result right ✓ |`,
    `| the same: ring run time p50 / p99${mark} | ${bench.ring.p50Ms} ms / ${bench.ring.p99Ms} ms | — | — | — |`,
    `| the same: chain run time p50 / p99${mark} | ${bench.chain.p50Ms} ms / ${bench.chain.p99Ms} ms | — | — | — |`,
    `| the same: each site worker's peak RSS; heap kept after a full GC, warm-up → end${mark} | ${workers}; ${heaps} | — | — | flat |`,
  ];
}
