import { describe, expect, it } from 'vitest';
import { ErrorCode, ParleyError } from '../common/errors.ts';
import { cellsToSuppress, controlRelease } from './disclosure-control.ts';

const M = 2n ** 64n;
const layout = { kind: 'statistics', column: 'lab_value', decimals: 1, bins: [5, 6.5, 8] };
const at = { runId: 'run-1', step: 'total.additive.combine', org: 'north', threshold: 10, modulus: M.toString() };

/** Totals as the finishing site sees them: count, sum, sum of squares, then the cells, as residues. */
function totals(cells: number[], sum = -37): string[] {
  const count = cells.reduce((a, b) => a + b, 0);
  return [count, sum, 9999, ...cells].map((v) => ((BigInt(v) + M) % M).toString());
}

function refusal(f: () => unknown): ParleyError {
  try {
    f();
  } catch (err) {
    if (err instanceof ParleyError) return err;
    throw err;
  }
  throw new Error('expected a refusal');
}

describe('small-cell control at the finishing site', () => {
  it('releases a total whose every cell holds at least the threshold as it is', () => {
    const content = { totals: totals([10, 20, 30, 12]), layout };
    expect(controlRelease(content, at)).toBe(content);
  });

  it('suppresses a cell of 2, and the smallest other cell with it, so the 2 cannot be had as count minus the rest', () => {
    const released = controlRelease({ totals: totals([40, 2, 30, 12]), layout }, at) as { totals: Array<string | null>; suppressed: unknown };
    expect(released.suppressed).toEqual({ threshold: 10, cells: [1, 3] });
    expect(released.totals.slice(3)).toEqual([totals([40])[3], null, totals([0, 0, 30])[5], null]);
    // The moments stay: they rest on the whole cohort.
    expect(released.totals.slice(0, 3)).toEqual(totals([40, 2, 30, 12]).slice(0, 3));
  });

  it('suppresses zero cells too, and adds released cells until the hidden ones hold the threshold together', () => {
    // Hidden 0 + 3 + 4 + 0 = 7 is still small: the one released cell goes too.
    expect(cellsToSuppress([0n, 50n, 3n, 4n, 0n], 10n)).toEqual([0, 1, 2, 3, 4]);
    expect(cellsToSuppress([0n, 50n, 12n, 3n, 0n], 10n)).toEqual([0, 2, 3, 4]);
    expect(cellsToSuppress([11n, 12n], 10n)).toEqual([]);
  });

  it('refuses a whole cohort below the threshold, naming the threshold but not the count', () => {
    const err = refusal(() => controlRelease({ totals: totals([3, 4, 0, 0]), layout }, at));
    expect(err.code).toBe(ErrorCode.DisclosureThreshold);
    expect(err.message).toBe(
      'Step "total.additive.combine" at site "north" released nothing: the whole cohort\'s count is below the disclosure threshold of 10 (ERR_DISCLOSURE_THRESHOLD). ' +
        'Widen the cohort or the histogram\'s bins, or ask the site\'s operator about its disclosure threshold.',
    );
    expect(err.message).not.toMatch(/\b7\b/);
  });

  it('refuses a vector under a relabelled layout, a histogram that does not add up, and residues without a modulus', () => {
    expect(refusal(() => controlRelease({ totals: totals([40, 2]), layout: { ...layout, kind: 'other' } }, at)).message).toMatch(/not a statistics layout/);
    const lying = totals([40, 2, 30, 12]);
    lying[0] = (500n).toString();
    expect(refusal(() => controlRelease({ totals: lying, layout }, at)).message).toMatch(/does not add up/);
    expect(refusal(() => controlRelease({ totals: totals([40, 20, 30, 12]), layout }, { ...at, modulus: undefined })).message).toMatch(/names no modulus/);
    expect(refusal(() => controlRelease({ totals: totals([40, 20, 30]), layout }, at)).message).toMatch(/does not match its layout/);
  });

  it('checks an analysis output released as written ({ layout, values }, signed integers) the same way', () => {
    const values = ['67', '-12', '9999', '40', '2', '0', '25'];
    const released = controlRelease({ layout, values }, { ...at, modulus: undefined }) as { values: unknown[]; suppressed: { cells: number[] } };
    expect(released.suppressed.cells).toEqual([1, 2, 3]);
    expect(released.values.slice(3)).toEqual(['40', null, null, null]);
    expect(released.values.slice(0, 3)).toEqual(['67', '-12', '9999']);
  });

  it('passes a scalar total and outputs of other shapes untouched', () => {
    expect(controlRelease({ total: '3' }, at)).toEqual({ total: '3' });
    expect(controlRelease(undefined, at)).toBeUndefined();
    expect(controlRelease({ refused: [] }, at)).toEqual({ refused: [] });
  });
});

describe('small-cell control of a private secure sum\'s noisy total', () => {
  const noisy = { ...at, noisy: true };
  const privacy = { mechanism: 'skellam', epsilon: 1, delta: 1e-6, variances: ['86.4', '216000', '540000000', '86.4', '86.4', '86.4', '86.4'] };
  /** Noisy totals: the cells need not add up to the count, and may be negative. */
  const noisyTotals = (count: number, cells: number[]) => [count, 120, 9999, ...cells].map((v) => ((BigInt(v) + M) % M).toString());

  it('releases noisy cells that do not add up to the count, and suppresses only those below the threshold', () => {
    const out = controlRelease({ totals: noisyTotals(75, [-3, 31, 40, 12]), layout, privacy }, noisy) as { totals: Array<string | null>; suppressed: unknown };
    expect(out.totals.slice(3).map((t) => t !== null)).toEqual([false, true, true, true]);
    expect(out.suppressed).toEqual({ threshold: 10, cells: [0] });
  });

  it('still refuses a noisy count below the threshold', () => {
    expect(refusal(() => controlRelease({ totals: noisyTotals(8, [2, 2, 2, 2]), layout, privacy }, noisy)).code).toBe(ErrorCode.DisclosureThreshold);
  });

  it('refuses, where the manifest promised noise, a total that carries no note of it', () => {
    const err = refusal(() => controlRelease({ totals: noisyTotals(75, [10, 31, 20, 14]), layout }, noisy));
    expect(err.message).toMatch(/carries no note of its noise/);
  });

  it('gives no such leniency to a total the manifest did not promise noise for, whatever it claims', () => {
    const err = refusal(() => controlRelease({ totals: noisyTotals(75, [10, 31, 20, 12]), layout, privacy }, at));
    expect(err.message).toMatch(/does not add up to its count/);
  });
});
