import { describe, expect, it } from 'vitest';
import { ErrorCode, ParleyError } from '../common/errors.ts';
import { noiseVariances, siteNoise } from '../algorithms/lib/privacy.js';
import { seededRandom } from '../algorithms/lib/skellam.js';
import { protocolPrivacyArgs } from '../common/privacy/protocol-privacy.ts';
import { decodeStatistics, formatCellCount } from './statistics.ts';

const M = (1n << 127n) - 1n;
const layout = { kind: 'statistics', column: 'lab_value', decimals: 1, bins: [5, 6.5, 8] };

/** What the analysis step and a secure sum give for `xs` (each with one decimal), as residues. */
function totalsOf(xs: number[], bins = layout.bins, decimals = 1): string[] {
  const scaled = xs.map((x) => BigInt(Math.round(x * 10 ** decimals)));
  const cells = new Array<bigint>(bins.length + 1).fill(0n);
  for (const x of xs) cells[bins.filter((e) => x >= e).length]! += 1n;
  const values = [BigInt(xs.length), scaled.reduce((a, b) => a + b, 0n), scaled.reduce((a, b) => a + b * b, 0n), ...cells];
  return values.map((v) => ((v % M) + M) % M).map(String);
}

function refusal(run: () => unknown): ParleyError {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(ParleyError);
    expect((err as ParleyError).code).toBe(ErrorCode.StepProtocol);
    return err as ParleyError;
  }
  throw new Error('expected a refusal');
}

describe('decodeStatistics', () => {
  it('gives count, mean, sample variance, sd and the histogram of the values', () => {
    const xs = [4.2, 5.0, 5.9, 6.5, 7.1, 7.9, 8.0, 12.3];
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    const variance = xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (xs.length - 1);
    const stats = decodeStatistics({ totals: totalsOf(xs), layout }, M);
    expect(stats.count).toBe(8);
    expect(stats.mean).toBeCloseTo(mean, 12);
    expect(stats.variance).toBeCloseTo(variance, 12);
    expect(stats.sd).toBeCloseTo(Math.sqrt(variance), 12);
    expect(stats.histogram).toEqual([
      { from: null, to: 5, count: 1 },
      { from: 5, to: 6.5, count: 2 },
      { from: 6.5, to: 8, count: 3 },
      { from: 8, to: null, count: 2 },
    ]);
  });

  it('decodes residues above M/2 as negative values', () => {
    const xs = [-3.5, -1.25, 2.0];
    const bins = [-2, 0];
    const stats = decodeStatistics({ totals: totalsOf(xs, bins, 2), layout: { ...layout, decimals: 2, bins } }, M.toString());
    expect(stats.mean).toBeCloseTo((-3.5 - 1.25 + 2) / 3, 12);
    expect(stats.histogram.map((c) => c.count)).toEqual([1, 1, 1]);
  });

  it('keeps full precision where doubles would not: sums beyond 2^53', () => {
    // 10^6 values of 123456789.123456 at 6 decimals: Σx² is ~1.5e34 in fixed point.
    const n = 1_000_000n;
    const x = 123456789123456n;
    const totals = [n, n * x, n * x * x, 0n, 0n, n].map(String);
    const stats = decodeStatistics({ totals, layout: { kind: 'statistics', column: 'v', decimals: 6, bins: [0, 1] } }, M);
    expect(stats.mean).toBe(123456789.123456);
    expect(stats.variance).toBe(0);
  });

  it('gives NaN variance for a single value, and NaN mean for none', () => {
    expect(Number.isNaN(decodeStatistics({ totals: totalsOf([7]), layout }, M).variance)).toBe(true);
    expect(Number.isNaN(decodeStatistics({ totals: totalsOf([]), layout }, M).mean)).toBe(true);
  });

  it('refuses a layout that is not a statistics layout, naming what is wrong', () => {
    expect(refusal(() => decodeStatistics({ totals: totalsOf([1]), layout: { ...layout, kind: 'other' } }, M)).message).toMatch(/not a statistics layout/);
    expect(refusal(() => decodeStatistics({ totals: totalsOf([1]), layout: { ...layout, bins: [3, 3] } }, M)).message).toMatch(/strictly increasing/);
    expect(refusal(() => decodeStatistics({ totals: totalsOf([1]), layout: { ...layout, decimals: 7 } }, M)).message).toMatch(/decimals/);
  });

  it('refuses totals whose length does not match the layout', () => {
    const totals = totalsOf([1, 2, 3]);
    expect(refusal(() => decodeStatistics({ totals: totals.slice(1), layout }, M)).message).toMatch(/has 6 totals, but its layout \(3 bin edges\) needs 7/);
  });

  it('refuses totals that are not residues below the modulus, or whose histogram disagrees with the count', () => {
    const totals = totalsOf([5.5, 6.0]);
    expect(refusal(() => decodeStatistics({ totals: totals.map((t, i) => (i === 1 ? M.toString() : t)), layout }, M)).message).toMatch(/Total 1 .* not below the modulus/);
    expect(refusal(() => decodeStatistics({ totals: totals.map((t, i) => (i === 0 ? '3' : t)), layout }, M)).message).toMatch(/do not add up to the count/);
  });

  it('shows a cell the finishing site suppressed as count null, suppressed, and prints it as "<threshold"', () => {
    const xs = [...Array<number>(12).fill(4.5), 6.0, 6.1, ...Array<number>(11).fill(7.0), ...Array<number>(3).fill(9.0)];
    const totals: Array<string | null> = totalsOf(xs);
    // Cells 1 (2 values) and 3 (3 values) suppressed, as activities/disclosure-control.ts would.
    totals[4] = null;
    totals[6] = null;
    const stats = decodeStatistics({ totals, layout, suppressed: { threshold: 10, cells: [1, 3] } }, M);
    expect(stats.count).toBe(28);
    expect(stats.suppressedBelow).toBe(10);
    expect(stats.histogram).toEqual([
      { from: null, to: 5, count: 12 },
      { from: 5, to: 6.5, count: null, suppressed: true },
      { from: 6.5, to: 8, count: 11 },
      { from: 8, to: null, count: null, suppressed: true },
    ]);
    expect(stats.histogram.map((c) => formatCellCount(c, stats.suppressedBelow))).toEqual(['12', '<10', '11', '<10']);
  });

  it('refuses a missing cell the result does not say was suppressed', () => {
    const totals: Array<string | null> = totalsOf([5.5, 6.0]);
    totals[4] = null;
    expect(refusal(() => decodeStatistics({ totals, layout }, M)).message).toMatch(/Total 4 of the result is missing/);
  });
});

describe('decodeStatistics of a private release', () => {
  const bounded = { ...layout, bins: [5, 6.5, 8], bounds: [4, 14], center: '90' };
  // The example chain's shape: 280 values between 5 and 12, one decimal.
  const xs = Array.from({ length: 280 }, (_, i) => 5 + ((i * 37) % 71) / 10);
  const exactOf = (values: number[]) => {
    const centred = values.map((x) => BigInt(Math.round(x * 10)) - 90n);
    const cells = new Array<bigint>(bounded.bins.length + 1).fill(0n);
    for (const x of values) cells[bounded.bins.filter((e) => x >= e).length]! += 1n;
    return [BigInt(values.length), centred.reduce((a, b) => a + b, 0n), centred.reduce((a, b) => a + b * b, 0n), ...cells];
  };
  const exact = exactOf(xs);
  const plain = decodeStatistics({ totals: exact.map((v) => ((v % M) + M) % M).map(String), layout: bounded }, M);
  const variances = noiseVariances(bounded, protocolPrivacyArgs({ epsilon: 1, delta: 1e-6 }).unitVariance);
  const release = (random: () => number) => {
    // Three sites' shares, Sk(μ / 3) each: together Sk(μ) on every total.
    const noisy = [0, 1, 2].map(() => siteNoise(variances, 3, random)).reduce((a, n) => a.map((x, i) => x + n[i]!), exact);
    return decodeStatistics({ totals: noisy.map((v) => ((v % M) + M) % M).map(String), layout: bounded, privacy: { mechanism: 'skellam', epsilon: 1, delta: 1e-6, variances: variances.map(String) } }, M);
  };

  it('decodes the centred sums of bounded values back to the values\' own mean', () => {
    expect(plain.count).toBe(280);
    expect(plain.mean).toBeCloseTo(xs.reduce((a, b) => a + b, 0) / xs.length, 10);
  });

  it('gives the noisy figures with what they cost and a 95 % interval for each', () => {
    const s = release(seededRandom('one release'));
    expect(s.privacy).toMatchObject({ mechanism: 'skellam', epsilon: 1, delta: 1e-6, confidence: 0.95 });
    const { count, mean, variance, histogram } = s.privacy!.intervals;
    expect(count![0]).toBeLessThan(s.count);
    expect(count![1]).toBeGreaterThan(s.count);
    expect(mean![0]).toBeLessThan(mean![1]);
    expect(variance![0]).toBeGreaterThanOrEqual(0);
    expect(histogram).toHaveLength(bounded.bins.length + 1);
    // A noisy count is not an exact one: the sites' noise is in every figure.
    expect(s.count === plain.count && s.mean === plain.mean).toBe(false);
  });

  it('holds the exact figures within their intervals at least 95 % of the time (500 releases)', () => {
    const random = seededRandom('coverage');
    const hits = { count: 0, mean: 0, variance: 0, cells: 0 };
    const n = 500;
    for (let i = 0; i < n; i++) {
      const { intervals } = release(random).privacy!;
      const within = (interval: [number, number] | null, x: number) => interval === null || (interval[0] <= x && x <= interval[1]);
      if (within(intervals.count, plain.count)) hits.count++;
      if (within(intervals.mean, plain.mean)) hits.mean++;
      if (within(intervals.variance, plain.variance)) hits.variance++;
      if (intervals.histogram.every((cell, j) => within(cell, plain.histogram[j]!.count!))) hits.cells++;
    }
    expect(hits.count / n).toBeGreaterThanOrEqual(0.95);
    expect(hits.mean / n).toBeGreaterThanOrEqual(0.95);
    expect(hits.variance / n).toBeGreaterThanOrEqual(0.95);
    // Each cell's interval holds at 95 %; all four together at least 80 % (a union bound).
    expect(hits.cells / n).toBeGreaterThanOrEqual(0.8);
  });

  it('refuses a noise note that does not match the totals', () => {
    const totals = exact.map((v) => ((v % M) + M) % M).map(String);
    refusal(() => decodeStatistics({ totals, layout: bounded, privacy: { mechanism: 'laplace', epsilon: 1, delta: 0, variances: [] } }, M));
  });
});
