/**
 * The release check of a vertical aggregate (vertical-control.ts through controlRelease): small
 * crosstab cells suppressed with secondary suppression in every row and column, a cohort below
 * the threshold refused, a regression with too many parameters per row refused (nfilter.glm).
 */
import { describe, expect, it } from 'vitest';
import { VERTICAL_MODULUS } from '../common/vertical.ts';
import { controlRelease } from './disclosure-control.ts';
import { crosstabSuppression } from './vertical-control.ts';

const context = { runId: 'r', step: 's.vertical.3.release', org: 'hospital', threshold: 10, modulus: VERTICAL_MODULUS };
const M = BigInt(VERTICAL_MODULUS);
const crosstab = (cells: number[]) => ({
  totals: cells.map(String), modulus: VERTICAL_MODULUS,
  layout: { kind: 'crosstab', rows: { column: 'd', levels: ['a', 'b', 'c'] }, columns: { column: 's', levels: ['0', '1'] } },
});

describe('release control of vertical aggregates', () => {
  it('suppresses a small cell and, in its row and its column, enough others that no margin gives it back', () => {
    const cells = [50n, 3n, 40n, 60n, 70n, 80n];
    const hidden = crosstabSuppression(cells, 3, 2, 10n);
    expect(hidden).toContain(1);
    for (const line of [[0, 1], [1, 3, 5]]) {
      const inLine = line.filter((i) => hidden.includes(i));
      expect(inLine.length).toBeGreaterThanOrEqual(2);
    }
    for (const line of [[0, 1], [2, 3], [4, 5], [0, 2, 4], [1, 3, 5]]) {
      const inLine = line.filter((i) => hidden.includes(i));
      if (inLine.length > 0) expect(inLine.reduce((a, i) => a + cells[i]!, 0n)).toBeGreaterThanOrEqual(10n);
      if (inLine.length > 0) expect(inLine.length).toBeGreaterThanOrEqual(2);
    }
    const released = controlRelease(crosstab([50, 3, 40, 60, 70, 80]), context) as { totals: Array<string | null> };
    hidden.forEach((i) => expect(released.totals[i]).toBeNull());
  });

  it('releases a table with no small cell as it is, and refuses one whose whole count is below the threshold', () => {
    const all = crosstab([50, 30, 40, 60, 70, 80]);
    expect(controlRelease(all, context)).toBe(all);
    expect(() => controlRelease(crosstab([1, 1, 1, 1, 1, 1]), context)).toThrow(expect.objectContaining({ code: 'ERR_DISCLOSURE_THRESHOLD' }));
  });

  it('refuses a cohort summary below the threshold, and one that is not three figures', () => {
    const summary = (totals: string[]) => ({ totals, modulus: VERTICAL_MODULUS, layout: { kind: 'vertical-summary', column: 'hba1c', decimals: 1 } });
    expect(() => controlRelease(summary(['9', '630', '44100']), context)).toThrow(expect.objectContaining({ code: 'ERR_DISCLOSURE_THRESHOLD' }));
    expect(() => controlRelease(summary(['90', '6300']), context)).toThrow(expect.objectContaining({ code: 'ERR_DISCLOSURE_THRESHOLD' }));
    const ok = summary(['90', '6300', '441000']);
    expect(controlRelease(ok, context)).toBe(ok);
  });

  it('refuses a regression with more than 0.33 parameters per row (DataSHIELD nfilter.glm)', () => {
    // Terms intercept, x over n = 12 rows: 2 / 12 passes; with 5 terms, 5 / 12 > 0.33 does not.
    const equations = (p: number, n: number) => {
      const terms = ['intercept', ...Array.from({ length: p - 1 }, (_, i) => `x${i}`)];
      const upper: bigint[] = [];
      for (let i = 0; i < p; i++) for (let j = i; j < p; j++) upper.push(i === 0 ? BigInt(n) : BigInt(n * (i === j ? 3 : 1)));
      const values = [BigInt(n), 100n, ...terms.map(() => 10n), ...upper].map((v) => ((v % M) + M) % M);
      return { totals: values.map(String), layout: { kind: 'normal-equations', terms, indicators: [], decimals: 0 } };
    };
    expect(() => controlRelease(equations(2, 12), context)).not.toThrow();
    expect(() => controlRelease(equations(5, 12), context)).toThrow(/nfilter\.glm/);
  });
});
