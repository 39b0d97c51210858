/**
 * The demo end to end with the Parley API in the path (registration, run start, status and
 * sealed result through HTTP; keys fetched and pinned from the API) and without it (straight to
 * Temporal, keys from a shared directory). Goal: the API adds at most 5% to the run's time,
 * from its start to the opened result.
 */
import { randomInt } from 'node:crypto';
import { runDemo } from '../demo/run-demo.ts';
import { median, round } from './stats.ts';

export interface DemoApiBench {
  name: string;
  sites: number;
  runs: number;
  /** Median time from starting the run to the opened result. */
  viaApiRunMedianMs: number;
  directRunMedianMs: number;
  ratio: number;
  goalRatio: number;
  /** Median of the whole demo, provisioning checks, dev server and API start included. */
  viaApiTotalMedianMs: number;
  directTotalMedianMs: number;
  totalRatio: number;
  viaApiRunsMs: number[];
  directRunsMs: number[];
  viaApiTotalsMs: number[];
  directTotalsMs: number[];
}

/** Runs the demo `runs` times each way, alternating; throws if any demo fails or sums wrong. */
export async function benchDemoApi(options: { runs: number; sites?: number; log: (line: string) => void }): Promise<DemoApiBench> {
  const sites = options.sites ?? 3;
  const once = async (viaApi: boolean) => {
    const counts = Array.from({ length: sites }, () => BigInt(randomInt(0, 1_000_000)));
    const report = await runDemo({ counts, viaApi });
    if (report.result !== report.plainSum) throw new Error(`the demo ${viaApi ? 'through the API' : 'without the API'} gave ${report.result}, expected ${report.plainSum}`);
    return { runMs: report.runMs, totalMs: report.totalMs };
  };
  // One warm-up each (page cache, image ids, JIT), then alternate, swapping which goes first
  // every round, so drift in the machine's load and any order effect hit both alike.
  await once(true);
  await once(false);
  const viaApi: Array<{ runMs: number; totalMs: number }> = [];
  const direct: Array<{ runMs: number; totalMs: number }> = [];
  for (let i = 0; i < options.runs; i++) {
    if (i % 2 === 0) {
      viaApi.push(await once(true));
      direct.push(await once(false));
    } else {
      direct.push(await once(false));
      viaApi.push(await once(true));
    }
    options.log(`  demo run ${i + 1}/${options.runs}: run ${Math.round(viaApi.at(-1)!.runMs)} ms via the API, ${Math.round(direct.at(-1)!.runMs)} ms without; total ${Math.round(viaApi.at(-1)!.totalMs)} / ${Math.round(direct.at(-1)!.totalMs)} ms`);
  }
  const viaApiRun = median(viaApi.map((r) => r.runMs));
  const directRun = median(direct.map((r) => r.runMs));
  const viaApiTotal = median(viaApi.map((r) => r.totalMs));
  const directTotal = median(direct.map((r) => r.totalMs));
  return {
    name: `demo, ${sites} sites, with vs without the API`,
    sites,
    runs: options.runs,
    viaApiRunMedianMs: round(viaApiRun, 1),
    directRunMedianMs: round(directRun, 1),
    ratio: round(viaApiRun / directRun, 3),
    goalRatio: 1.05,
    viaApiTotalMedianMs: round(viaApiTotal, 1),
    directTotalMedianMs: round(directTotal, 1),
    totalRatio: round(viaApiTotal / directTotal, 3),
    viaApiRunsMs: viaApi.map((r) => round(r.runMs, 1)),
    directRunsMs: direct.map((r) => round(r.runMs, 1)),
    viaApiTotalsMs: viaApi.map((r) => round(r.totalMs, 1)),
    directTotalsMs: direct.map((r) => round(r.totalMs, 1)),
  };
}
