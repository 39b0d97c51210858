import { describe, expect, it } from 'vitest';
import { solveNormalEquations } from './normal-equations.ts';

const M = 2n ** 64n;
const layout = { kind: 'normal-equations', outcome: 'y', terms: ['intercept', 'x'], indicators: [], decimals: 3 };

/** The normal equations of exact rows at 3 decimals, negative values as residues M − v. */
function total(rows: Array<[number, number]>): { totals: string[]; layout: unknown } {
  const sum = (f: (r: [number, number]) => number) => rows.reduce((s, r) => s + f(r), 0);
  const values = [rows.length, sum(([, y]) => y * y), sum(([, y]) => y), sum(([x, y]) => x * y), rows.length, sum(([x]) => x), sum(([x]) => x * x)];
  return { totals: values.map((v) => BigInt(Math.round(v * 1000))).map((v) => ((v % M) + M) % M).map(String), layout };
}

describe('solveNormalEquations', () => {
  it('recovers the least-squares line from the summed normal equations, negative totals included', () => {
    // y = 2 − 0.5 x exactly: a negative slope makes Σxy negative, so it travels as a residue above M/2.
    const rows: Array<[number, number]> = [[0, 2], [2, 1], [4, 0], [6, -1], [8, -2]];
    const fit = solveNormalEquations(total(rows), M);
    expect(fit.n).toBe(5);
    expect(fit.coefficients.intercept).toBeCloseTo(2, 9);
    expect(fit.coefficients.x).toBeCloseTo(-0.5, 9);
    expect(fit.rss).toBeCloseTo(0, 6);
  });

  it('refuses another layout, a vector of the wrong length and a singular XᵀX, saying which', () => {
    expect(() => solveNormalEquations({ totals: ['1'], layout: { kind: 'statistics' } }, M)).toThrow(/layout is not kind normal-equations/);
    expect(() => solveNormalEquations({ totals: total([[1, 1], [2, 2]]).totals.slice(1), layout }, M)).toThrow(/do not match its layout/);
    expect(() => solveNormalEquations(total([[3, 1], [3, 2], [3, 4]]), M)).toThrow(/XᵀX is singular/);
  });
});
