/**
 * The noise samplers draw from the distributions the privacy analysis is about: Pearson's
 * chi-square over 20,000 draws with a fixed seed, against pmfs computed independently
 * (test/support/chi-square.ts), and the same test rejecting a slightly wrong distribution, so a
 * sampler off by that much cannot pass.
 */
import { describe, expect, it } from 'vitest';
import { chiSquareTest, poissonPmf, skellamPmf } from '../../test/support/chi-square.ts';
import { cryptoRandom, MAX_POISSON_MEAN, samplePoisson, sampleSkellam, seededRandom } from './skellam.js';

const DRAWS = 20_000;
/** Below this the fit is rejected; a correct sampler passes it 999 times in 1,000 seeds. */
const ALPHA = 0.001;
/**
 * Pooling into bins of at least 200 expected draws (about 100 bins): the convention's 5 keeps the
 * test valid, but a thousand thin bins at large variances would drown a 10 % error in the spread.
 */
const MIN_EXPECTED = 200;

describe('samplePoisson', () => {
  it.each([0.5, 7, 50, 5000, 1e6])('draws Poisson(%d): chi-square fits its pmf and rejects the pmf of a mean a tenth larger', (mean) => {
    const random = seededRandom(`poisson ${mean}`);
    const draws = Float64Array.from({ length: DRAWS }, () => samplePoisson(mean, random));
    const fit = chiSquareTest(draws, poissonPmf(mean), MIN_EXPECTED);
    expect(fit.bins).toBeGreaterThan(2);
    expect(fit.pValue).toBeGreaterThan(ALPHA);
    expect(chiSquareTest(draws, poissonPmf(mean * 1.1), MIN_EXPECTED).pValue).toBeLessThan(ALPHA);
  });

  it('draws at a mean of 10^9 in microseconds each, centred on the mean', () => {
    const random = seededRandom('poisson 1e9');
    const started = performance.now();
    let sum = 0;
    for (let i = 0; i < 10_000; i++) sum += samplePoisson(1e9, random);
    const elapsed = performance.now() - started;
    expect(elapsed).toBeLessThan(2_000);
    // The sample mean's standard error is √(10^9 / 10^4) ≈ 316.
    expect(Math.abs(sum / 10_000 - 1e9)).toBeLessThan(5 * 316);
  });

  it('gives 0 at mean 0 and refuses a negative, non-numeric or too large mean', () => {
    expect(samplePoisson(0, cryptoRandom)).toBe(0);
    expect(() => samplePoisson(-1, cryptoRandom)).toThrow(RangeError);
    expect(() => samplePoisson(Number.NaN, cryptoRandom)).toThrow(RangeError);
    expect(() => samplePoisson(MAX_POISSON_MEAN * 2, cryptoRandom)).toThrow(RangeError);
  });
});

describe('sampleSkellam', () => {
  it.each([3, 200, 40_000])('five site shares Sk(μ/5) sum to Sk(%d): chi-square fits its pmf and rejects variance ×1.1', (variance) => {
    const random = seededRandom(`skellam ${variance}`);
    const sites = 5;
    const draws = Float64Array.from({ length: DRAWS }, () => {
      let total = 0n;
      for (let s = 0; s < sites; s++) total += sampleSkellam(variance / sites, random);
      return Number(total);
    });
    const fit = chiSquareTest(draws, skellamPmf(variance), MIN_EXPECTED);
    expect(fit.bins).toBeGreaterThan(2);
    expect(fit.pValue).toBeGreaterThan(ALPHA);
    expect(chiSquareTest(draws, skellamPmf(variance * 1.1), MIN_EXPECTED).pValue).toBeLessThan(ALPHA);
  });

  it('draws variances beyond one Poisson piece (2^52) as BigInts, symmetric about 0', () => {
    const random = seededRandom('skellam huge');
    const variance = 4 * MAX_POISSON_MEAN;
    const draws = Array.from({ length: 200 }, () => sampleSkellam(variance, random));
    expect(draws.every((d) => typeof d === 'bigint')).toBe(true);
    const sd = Math.sqrt(variance);
    const mean = draws.reduce((a, d) => a + Number(d), 0) / draws.length;
    expect(Math.abs(mean)).toBeLessThan((5 * sd) / Math.sqrt(draws.length));
    expect(draws.some((d) => Number(d) > sd / 4) && draws.some((d) => Number(d) < -sd / 4)).toBe(true);
  });

  it('refuses a negative, infinite or undrawably large variance, saying what to change', () => {
    expect(() => sampleSkellam(-1, cryptoRandom)).toThrow(RangeError);
    expect(() => sampleSkellam(Infinity, cryptoRandom)).toThrow(RangeError);
    expect(() => sampleSkellam(1e40, cryptoRandom)).toThrow(/too large to draw exactly\. Lower the sensitivity/);
  });
});

describe('the random sources', () => {
  it('seededRandom repeats per seed and differs across seeds; cryptoRandom does not repeat', () => {
    const a = seededRandom('a');
    const again = seededRandom('a');
    const b = seededRandom('b');
    const first = Array.from({ length: 5 }, () => a());
    expect(Array.from({ length: 5 }, () => again())).toEqual(first);
    expect(Array.from({ length: 5 }, () => b())).not.toEqual(first);
    expect(cryptoRandom()).not.toBe(cryptoRandom());
  });

  it.each([['seededRandom', seededRandom('uniform')], ['cryptoRandom', cryptoRandom]] as const)('%s gives uniform doubles in [0, 1)', (_name, random) => {
    const draws = Array.from({ length: DRAWS }, () => random());
    expect(draws.every((u) => u >= 0 && u < 1)).toBe(true);
    // Ten equal cells: a fit against the uniform pmf on them.
    const cells = Float64Array.from(draws, (u) => Math.floor(u * 10));
    expect(chiSquareTest(cells, { from: 0, p: new Array(10).fill(0.1) }).pValue).toBeGreaterThan(ALPHA);
  });
});
