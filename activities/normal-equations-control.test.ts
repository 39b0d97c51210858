import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../common/errors.ts';
import { controlRelease } from './disclosure-control.ts';

const M = 2n ** 64n;
const context = { runId: 'run-1', step: 'total', org: 'north', threshold: 10, modulus: M.toString() };
const layout = { kind: 'normal-equations', outcome: 'y', terms: ['intercept', 'age', 'sex=M'], indicators: [2], decimals: 2 };

/** The summed normal equations of rows (age, male, y), at 2 decimals, as residues. */
function totals(rows: Array<[number, number, number]>): string[] {
  const x = rows.map(([age, male]) => [1, age, male]);
  const ys = rows.map((r) => r[2]);
  const scaled = (v: number) => BigInt(Math.round(v * 100));
  const xty = [0, 1, 2].map((i) => x.reduce((s, r, k) => s + r[i]! * ys[k]!, 0));
  const upper: number[] = [];
  for (let i = 0; i < 3; i++) for (let j = i; j < 3; j++) upper.push(x.reduce((s, r) => s + r[i]! * r[j]!, 0));
  return [rows.length, ys.reduce((s, y) => s + y * y, 0), ...xty, ...upper].map((v) => ((scaled(v) % M) + M) % M).map(String);
}

function refusal(content: unknown): { code: string; message: string } {
  try {
    controlRelease(content, context);
  } catch (err) {
    return err as { code: string; message: string };
  }
  throw new Error('expected a refusal');
}

const rows = (men: number, women: number): Array<[number, number, number]> => [
  ...Array.from({ length: men }, (_, i) => [40 + i, 1, 5 + i / 10] as [number, number, number]),
  ...Array.from({ length: women }, (_, i) => [50 + i, 0, 6 - i / 10] as [number, number, number]),
];

describe('release control of a regression\'s normal equations', () => {
  it('releases the total when the count and both sides of each indicator reach the threshold', () => {
    const content = { totals: totals(rows(10, 12)), layout };
    expect(controlRelease(content, context)).toBe(content);
  });

  it('refuses the whole total when one side of an indicator is a small group, saying so without a count', () => {
    for (const [men, women] of [[1, 30], [30, 9]] as const) {
      const refused = refusal({ totals: totals(rows(men, women)), layout });
      expect(refused.code).toBe(ErrorCode.DisclosureThreshold);
      expect(refused.message).toMatch(/an indicator term holds fewer rows on one side than the disclosure threshold of 10/);
      expect(refused.message).not.toMatch(new RegExp(`\\b${Math.min(men, women)}\\b`));
    }
    expect(refusal({ totals: totals(rows(4, 5)), layout }).message).toMatch(/whole cohort's count is below the disclosure threshold/);
  });

  it('refuses a layout it cannot check: a vector of the wrong length, counts that are not whole rows, noise', () => {
    expect(refusal({ totals: totals(rows(10, 10)).slice(1), layout }).message).toMatch(/does not match its layout/);
    const fractional = totals(rows(10, 10));
    fractional[0] = '2001';
    expect(refusal({ totals: fractional, layout }).message).toMatch(/not whole numbers of rows/);
    expect(() => controlRelease({ totals: totals(rows(10, 10)), layout }, { ...context, noisy: true })).toThrow(/adds no noise to/);
    expect(refusal({ totals: totals(rows(10, 10)), layout: { ...layout, indicators: [0] } }).message).toMatch(/indicators that are not terms/);
  });
});
