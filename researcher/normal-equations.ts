/**
 * The researcher's side of a federated linear regression: a secure sum's total of every site's
 * normal equations (examples/algorithms/linear-regression; layout in
 * activities/normal-equations-control.ts) decoded and solved, (ΣXᵀX) β = ΣXᵀy — the least-squares
 * fit on the pooled rows, since XᵀX and Xᵀy add over rows.
 */
import { ErrorCode, ParleyError } from '../common/errors.ts';

export interface RegressionFit {
  outcome: string;
  /** Term name → coefficient, intercept first. */
  coefficients: Record<string, number>;
  /** Rows the fit rests on, over every site. */
  n: number;
  /** Residual sum of squares, yᵀy − βᵀXᵀy. */
  rss: number;
}

function invalid(why: string): never {
  throw new ParleyError(ErrorCode.InvalidInput, `The result is not a regression's normal equations: ${why}. Was it produced by examples/linear-regression's layout?`);
}

/** Solves A x = b by Gaussian elimination with partial pivoting; throws on a singular A. */
function solve(a: number[][], b: number[]): number[] {
  const n = b.length;
  const m = a.map((row, i) => [...row, b[i]!]);
  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(m[r]![col]!) > Math.abs(m[pivot]![col]!)) pivot = r;
    if (Math.abs(m[pivot]![col]!) < 1e-12) invalid('XᵀX is singular (a term is constant, or one is a combination of others)');
    [m[col], m[pivot]] = [m[pivot]!, m[col]!];
    for (let r = 0; r < n; r++) {
      if (r === col) continue;
      const f = m[r]![col]! / m[col]![col]!;
      for (let c = col; c <= n; c++) m[r]![c]! -= f * m[col]![c]!;
    }
  }
  return m.map((row, i) => row[n]! / row[i]!);
}

/**
 * Decodes `{ totals, layout }` (residues modulo `modulus`, a residue above M/2 standing for a
 * negative value) and solves for the coefficients. Throws ParleyError InvalidInput for another
 * layout, a vector of the wrong length, or a singular XᵀX.
 */
export function solveNormalEquations(total: { totals: unknown; layout: unknown }, modulus: string | bigint): RegressionFit {
  const layout = total.layout as { kind?: unknown; terms?: unknown; decimals?: unknown; outcome?: unknown } | null;
  if (!layout || layout.kind !== 'normal-equations' || !Array.isArray(layout.terms) || !Number.isInteger(layout.decimals)) invalid('its layout is not kind normal-equations with terms and decimals');
  const terms = layout.terms as string[];
  const p = terms.length;
  const M = BigInt(modulus);
  if (!Array.isArray(total.totals) || total.totals.length !== 2 + p + (p * (p + 1)) / 2) invalid('its totals do not match its layout');
  const scale = 10 ** (layout.decimals as number);
  const values = (total.totals as unknown[]).map((t) => {
    if (typeof t !== 'string' || !/^[0-9]+$/.test(t) || BigInt(t) >= M) invalid('a total is not a residue below the modulus');
    const v = BigInt(t);
    return Number(v > M / 2n ? v - M : v) / scale;
  });
  const [n, yty] = values as [number, number];
  const xty = values.slice(2, 2 + p);
  const upper = values.slice(2 + p);
  const xtx = Array.from({ length: p }, () => new Array<number>(p).fill(0));
  let k = 0;
  for (let i = 0; i < p; i++) for (let j = i; j < p; j++) xtx[i]![j] = xtx[j]![i] = upper[k++]!;
  const beta = solve(xtx, xty);
  return {
    outcome: String(layout.outcome ?? ''),
    coefficients: Object.fromEntries(terms.map((t, i) => [t, beta[i]!])),
    n: Math.round(n),
    rss: yty - beta.reduce((s, b, i) => s + b * xty[i]!, 0),
  };
}
