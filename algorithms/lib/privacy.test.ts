/**
 * The noise plan of a statistics layout: its sensitivity, the variances that keep the whole
 * release within one calibrated unit release (checked against the accountant itself), the check
 * of a site's values against their bounds, and a site's share.
 */
import { describe, expect, it } from 'vitest';
import { calibrateSkellam, composeRdp, rdpToDp, skellamRdp, UNIT_SENSITIVITY } from '../../common/privacy/rdp.ts';
import { checkAgainstBounds, COUNT_LAYOUT, NoisePlanError, noiseVariances, scaledBounds, sensitivityOf, siteNoise } from './privacy.js';
import { seededRandom } from './skellam.js';

/** Lab values in [0, 20] at one decimal: scaled bounds 0 and 200, centre 100, B = 100. */
const LAYOUT = { kind: 'statistics', column: 'lab_value', decimals: 1, bins: [5, 6.5, 8, 10], bounds: [0, 20], center: '100' };

/** What a NoisePlanError thrown by `run` says, with its code. */
function refusal(run: () => unknown): { code: string; message: string } {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(NoisePlanError);
    return { code: (err as NoisePlanError).code, message: (err as Error).message };
  }
  throw new Error('expected a NoisePlanError');
}

describe('sensitivityOf', () => {
  it('gives count 1, sum B, sum of squares B² and the histogram 1, from the scaled bounds and centre', () => {
    expect(sensitivityOf(LAYOUT)).toEqual([
      { group: 'count', start: 0, end: 1, l1: 1n, l2: 1n },
      { group: 'sum', start: 1, end: 2, l1: 100n, l2: 100n },
      { group: 'sumOfSquares', start: 2, end: 3, l1: 10_000n, l2: 10_000n },
      { group: 'histogram', start: 3, end: 8, l1: 1n, l2: 1n },
    ]);
    expect(sensitivityOf(COUNT_LAYOUT)).toEqual([{ group: 'count', start: 0, end: 1, l1: 1n, l2: 1n }]);
  });

  it('scales the bounds exactly from their decimal text, and takes B from the farther bound', () => {
    // 0.1 × 10 is 1.0000000000000002 in floating point; from the text it is exactly 1.
    expect(scaledBounds({ ...LAYOUT, bounds: [0.1, 2.35], decimals: 1, center: '12' })).toMatchObject({ lo: 1n, hi: 24n, center: 12n, radius: 12n });
    expect(scaledBounds({ ...LAYOUT, bounds: [-1.5, 3], decimals: 2, center: '75' })).toMatchObject({ lo: -150n, hi: 300n, radius: 225n });
    expect(scaledBounds({ ...LAYOUT, bounds: [1e-7, 1e21], decimals: 0, center: '1' })).toMatchObject({ lo: 0n, hi: 10n ** 21n });
  });

  it.each([
    ['no bounds', { ...LAYOUT, bounds: undefined }],
    ['no center', { ...LAYOUT, center: undefined }],
    ['a center that is not an integer', { ...LAYOUT, center: '100.5' }],
    ['bounds in the wrong order', { ...LAYOUT, bounds: [20, 0] }],
    ['a center outside the bounds', { ...LAYOUT, center: '201' }],
    ['another kind of layout', { kind: 'histogram', bins: [1, 2] }],
  ])('refuses a layout with %s, saying DP needs the analysis step\'s bounds', (_what, layout) => {
    const { code, message } = refusal(() => sensitivityOf(layout));
    expect(code).toBe('ERR_DP_LAYOUT');
    expect(message).toMatch(/Differential privacy needs the analysis step's `bounds` arg/);
  });
});

describe('noiseVariances', () => {
  it('gives each group G · λ · Δ², G = 4 groups, per coordinate; a count run λ', () => {
    expect(noiseVariances(LAYOUT, 30)).toEqual([120, 120 * 1e4, 120 * 1e8, 120, 120, 120, 120, 120]);
    expect(noiseVariances(COUNT_LAYOUT, 30)).toEqual([30]);
  });

  it.each([
    [0.1, 1e-6],
    [1, 1e-5],
    [10, 1e-5],
  ])('keeps the whole release at ε = %s, δ = %s: Σ over groups of Theorem 3.5 stays below the unit curve', (epsilon, delta) => {
    const unit = calibrateSkellam({ epsilon, delta });
    const variances = noiseVariances(LAYOUT, unit);
    const curves = sensitivityOf(LAYOUT).map(({ start, l1, l2 }) => skellamRdp(variances[start]!, { l1: Number(l1), l2: Number(l2) }));
    const release = composeRdp(curves);
    const bound = skellamRdp(unit, UNIT_SENSITIVITY);
    release.forEach((e, i) => expect(e).toBeLessThanOrEqual(bound[i]! * (1 + 1e-12)));
    expect(rdpToDp(release, delta).epsilon).toBeLessThanOrEqual(epsilon);
  });

  it('refuses a unit variance that is not a positive number', () => {
    expect(refusal(() => noiseVariances(LAYOUT, 0)).code).toBe('ERR_DP_ARGS');
    expect(refusal(() => noiseVariances(LAYOUT, Number.NaN)).message).toMatch(/calibrateSkellam/);
  });
});

describe('checkAgainstBounds', () => {
  // Three rows scaled 0, 100 and 200 (centre 100): deviations −100, 0, 100; one in each of three cells.
  const GOOD = ['3', '0', '20000', '1', '1', '0', '0', '1'];

  it('accepts values within the bounds, as strings or BigInts', () => {
    expect(() => checkAgainstBounds(GOOD, LAYOUT)).not.toThrow();
    expect(() => checkAgainstBounds(GOOD.map(BigInt), LAYOUT)).not.toThrow();
    expect(() => checkAgainstBounds(['12'], COUNT_LAYOUT)).not.toThrow();
  });

  it('refuses a negative count in a count run', () => {
    expect(refusal(() => checkAgainstBounds(['-1'], COUNT_LAYOUT)).code).toBe('ERR_DP_BOUNDS');
  });

  it.each([
    ['a negative count', ['-1', '0', '0', '0', '0', '0', '0', '-1']],
    ['a sum beyond B · count', ['3', '-301', '20000', '1', '1', '0', '0', '1']],
    ['a sum of squares beyond B² · count', ['3', '0', '30001', '1', '1', '0', '0', '1']],
    ['a negative sum of squares', ['3', '0', '-1', '1', '1', '0', '0', '1']],
    ['a negative cell', ['3', '0', '20000', '2', '2', '0', '0', '-1']],
    ['cells not adding up to the count', ['3', '0', '20000', '1', '1', '0', '0', '0']],
    ['too few values', GOOD.slice(0, 7)],
  ])('refuses %s as not consistent with the declared bounds, naming no value', (_what, values) => {
    const { code, message } = refusal(() => checkAgainstBounds(values, LAYOUT));
    expect(code).toBe('ERR_DP_BOUNDS');
    expect(message).toMatch(/not consistent with their declared bounds/);
    for (const v of values) if (v.length > 1) expect(message).not.toContain(v);
  });
});

describe('siteNoise', () => {
  it('draws one integer per coordinate, Sk(μ_j / sites), each coordinate at its own scale', () => {
    const random = seededRandom('site noise');
    const variances = noiseVariances(LAYOUT, 30);
    const draws = Array.from({ length: 2000 }, () => siteNoise(variances, 4, random));
    expect(draws.every((d) => d.length === variances.length && d.every((x) => typeof x === 'bigint'))).toBe(true);
    variances.forEach((mu, j) => {
      const xs = draws.map((d) => Number(d[j]));
      const variance = xs.reduce((a, x) => a + x * x, 0) / xs.length;
      // The sample variance of 2,000 draws is within 15 % of μ_j / 4 (its relative error is about √(2/2000) ≈ 3 %).
      expect(variance / (mu / 4)).toBeGreaterThan(0.85);
      expect(variance / (mu / 4)).toBeLessThan(1.15);
    });
  });
});
