/**
 * Differential privacy (issue 13): how accurate the private example chain's figures are for
 * ε = 0.1, 1 and 10, and what privacy adds to each step.
 *
 * Accuracy: the exact statistics of the example chain's cohort over registries a, b and c, noised
 * as the three sites noise them (each adds Sk(μ/3) per figure, `algorithms/lib/privacy.js`),
 * decoded as the researcher decodes them; the median error of each figure relative to the exact
 * one over many releases, and the median width of the stated 95 % interval of the mean. Cost: the
 * exact and the private example chain end to end through real sites and containers; the sites'
 * own time per activity (opening, checking, charging the budget, sealing: totalMs − containerMs).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { openPrivacyBudget } from '../activities/privacy-budget.ts';
import type Docker from 'dockerode';
import { noiseVariances, siteNoise } from '../algorithms/lib/privacy.js';
import { cryptoRandom } from '../algorithms/lib/skellam.js';
import { protocolPrivacyArgs } from '../common/privacy/protocol-privacy.ts';
import { exampleChain, examplePrivateChain, exampleRegistryFile } from '../demo/example-chain.ts';
import type { ExampleImages } from '../provision/images.ts';
import { decodeStatistics, type Statistics } from '../researcher/statistics.ts';
import { benchChain, type ChainBench } from './chain.bench.ts';
import { median, round } from './stats.ts';

export interface PrivacyAccuracy {
  epsilon: number;
  delta: number;
  releases: number;
  /** Median |noisy − exact| / exact. */
  countError: number;
  meanError: number;
  varianceError: number;
  /** Median Σ|noisy cell − exact cell| / exact count (suppression ignored). */
  histogramError: number;
  /** Median width of the mean's 95 % interval, in the value's unit. */
  meanIntervalWidth: number;
}

export interface PrivacyBench {
  accuracy: PrivacyAccuracy[];
  /** The budget ledger's own cost (median ms) against `earlierCharges` charges: a check (every step that reads data), a charge (fsynced; once per release and site). */
  ledger?: { checkMs: number; chargeMs: number; earlierCharges: number };
  /** Sites' own work per activity (ms, median), exact chain and private chain, and the difference. */
  cost?: { exactSiteWorkMs: number; privateSiteWorkMs: number; addedMs: number; exactWallMs: number; privateWallMs: number };
}

const M = 1n << 64n;
const BINS = [4, 5.7, 6.5, 8, 10, 14];
const LAYOUT = { kind: 'statistics', column: 'lab_value', decimals: 1, bins: BINS, bounds: [4, 14], center: '90' };

/** The example chain's cohort over registries a, b and c: lab values of patients aged 40+ with E11.*. */
async function cohortValues(): Promise<number[]> {
  const values: number[] = [];
  for (const letter of ['a', 'b', 'c']) {
    const [header, ...lines] = (await readFile(exampleRegistryFile(letter), 'utf8')).split('\n').filter((l) => l !== '');
    const columns = header!.split(',');
    const at = (name: string) => columns.indexOf(name);
    for (const line of lines) {
      const cells = line.split(',');
      if (cells.length !== columns.length) continue;
      const age = Number(cells[at('age')]);
      const lab = cells[at('lab_value')]!;
      if (cells[at('age')] === '' || !Number.isInteger(age) || age < 40 || !cells[at('diagnosis')]!.startsWith('E11') || lab === '' || Number.isNaN(Number(lab))) continue;
      values.push(Number(lab));
    }
  }
  return values;
}

function exactTotals(xs: number[]): bigint[] {
  const centred = xs.map((x) => BigInt(Math.round(Math.min(14, Math.max(4, x)) * 10)) - 90n);
  const cells = new Array<bigint>(BINS.length + 1).fill(0n);
  for (const x of xs) cells[BINS.filter((e) => x >= e).length]! += 1n;
  return [BigInt(xs.length), centred.reduce((a, b) => a + b, 0n), centred.reduce((a, b) => a + b * b, 0n), ...cells];
}

const residues = (values: bigint[]) => values.map((v) => ((v % M) + M) % M).map(String);

export async function benchPrivacyAccuracy(releases = 2000, epsilons = [0.1, 1, 10], delta = 1e-6): Promise<PrivacyAccuracy[]> {
  const exact = exactTotals(await cohortValues());
  const truth = decodeStatistics({ totals: residues(exact), layout: LAYOUT }, M);
  const relative = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);
  return epsilons.map((epsilon) => {
    const variances = noiseVariances(LAYOUT, protocolPrivacyArgs({ epsilon, delta }).unitVariance);
    const errors = { count: [] as number[], mean: [] as number[], variance: [] as number[], histogram: [] as number[], width: [] as number[] };
    for (let i = 0; i < releases; i++) {
      const noisy = [0, 1, 2].map(() => siteNoise(variances, 3, cryptoRandom)).reduce((a, n) => a.map((x, j) => x + n[j]!), exact);
      const s: Statistics = decodeStatistics({ totals: residues(noisy), layout: LAYOUT, privacy: { mechanism: 'skellam', epsilon, delta, variances: variances.map(String) } }, M);
      errors.count.push(relative(s.count, truth.count));
      errors.mean.push(relative(s.mean, truth.mean));
      errors.variance.push(relative(s.variance, truth.variance));
      errors.histogram.push(s.histogram.reduce((a, cell, j) => a + Math.abs((cell.count ?? 0) - truth.histogram[j]!.count!), 0) / truth.count);
      const interval = s.privacy!.intervals.mean;
      errors.width.push(interval ? interval[1] - interval[0] : Number.POSITIVE_INFINITY);
    }
    return {
      epsilon, delta, releases,
      countError: round(median(errors.count), 4), meanError: round(median(errors.mean), 4), varianceError: round(median(errors.variance), 4),
      histogramError: round(median(errors.histogram), 4), meanIntervalWidth: round(median(errors.width), 3),
    };
  });
}

/** The exact and the private example chain end to end; what privacy adds to the sites' own work. */
export async function benchPrivacyCost(options: { docker: Docker; temporalAddress?: string; temporalCli?: string; images: ExampleImages; runs: number; log: (line: string) => void }): Promise<NonNullable<PrivacyBench['cost']>> {
  const exact: ChainBench = await benchChain({ ...options, chain: await exampleChain(options.images) });
  const noisy: ChainBench = await benchChain({ ...options, chain: await examplePrivateChain(options.images) });
  return {
    exactSiteWorkMs: exact.summary.siteWorkPerActivityMs,
    privateSiteWorkMs: noisy.summary.siteWorkPerActivityMs,
    addedMs: round(noisy.summary.siteWorkPerActivityMs - exact.summary.siteWorkPerActivityMs, 1),
    exactWallMs: exact.summary.wall.medianMs,
    privateWallMs: noisy.summary.wall.medianMs,
  };
}

/** What the budget ledger adds to a step: a check against `earlier` charges, and an fsynced charge. */
export async function benchBudgetLedger(earlier = 200, iterations = 50): Promise<NonNullable<PrivacyBench['ledger']>> {
  const dir = await mkdtemp(join(tmpdir(), 'parley-bench-budget-'));
  try {
    const ledger = openPrivacyBudget(dir, { patients: { epsilon: 1e6, delta: 1e-6 } });
    const { unitVariance } = protocolPrivacyArgs({ epsilon: 1, delta: 1e-6 });
    const charge = (runId: string) => ({ runId, step: 'total', org: 'bench', datasets: ['patients'], epsilon: 1, delta: 1e-6, unitVariance });
    for (let i = 0; i < earlier; i++) await ledger.charge(charge(`earlier-${i}`));
    const timed = async (f: (i: number) => Promise<unknown>) => {
      const ms: number[] = [];
      for (let i = 0; i < iterations; i++) {
        const t0 = performance.now();
        await f(i);
        ms.push(performance.now() - t0);
      }
      return round(median(ms), 2);
    };
    const checkMs = await timed((i) => ledger.check([charge(`check-${i}`)]));
    const chargeMs = await timed((i) => ledger.charge(charge(`charge-${i}`)));
    return { checkMs, chargeMs, earlierCharges: earlier };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
