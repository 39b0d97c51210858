/**
 * The researcher's side of a vertical analysis (common/vertical.ts): the aggregate a vertical
 * step's aggregator sealed, `{ totals, layout, modulus }` (residues; a residue above M/2 stands
 * for a negative value), decoded into what the analysis asked for:
 *
 * - crosstab: the table's cells by row level and column level (null where suppressed);
 * - summary: the cohort's count, mean and sample variance;
 * - regression: from XᵀX, Xᵀy, yᵀy and n (researcher/normal-equations.ts solves the fit) the
 *   coefficients, their standard errors (σ̂² (XᵀX)⁻¹, σ̂² = RSS / (n − p)) and R².
 */
import { ErrorCode, ParleyError } from '../common/errors.ts';
import { invert } from './least-squares.ts';
import { solveNormalEquations } from './normal-equations.ts';

export type VerticalResult =
  | { kind: 'crosstab'; rows: { column: string; levels: string[] }; columns: { column: string; levels: string[] }; cells: Array<Array<number | null>>; suppressedBelow?: number }
  | { kind: 'summary'; column: string; count: number; mean: number; variance: number }
  | { kind: 'regression'; outcome: string; terms: string[]; n: number; coefficients: number[]; standardErrors: number[]; r2: number };

function invalid(why: string): never {
  throw new ParleyError(ErrorCode.InvalidInput, `The result is not a vertical analysis's aggregate: ${why}. Was it sealed by a vertical step's release?`);
}

/** Decodes a vertical step's released aggregate; throws ParleyError InvalidInput for anything else. */
export function decodeVerticalResult(result: { totals: unknown; layout: unknown; modulus: unknown; suppressed?: { threshold?: number } }): VerticalResult {
  const layout = result.layout as Record<string, unknown> | null;
  if (typeof result.modulus !== 'string' || !/^[0-9]{3,400}$/.test(result.modulus)) invalid('it names no modulus');
  const M = BigInt(result.modulus);
  if (!Array.isArray(result.totals) || !layout) invalid('it holds no totals and layout');
  const signed = (t: unknown): bigint | null => {
    if (t === null) return null;
    if (typeof t !== 'string' || !/^[0-9]+$/.test(t) || BigInt(t) >= M) invalid('a total is not a residue below the modulus');
    const v = BigInt(t);
    return v > M / 2n ? v - M : v;
  };
  const values = (result.totals as unknown[]).map(signed);
  if (layout.kind === 'crosstab') {
    const rows = layout.rows as { column: string; levels: string[] };
    const columns = layout.columns as { column: string; levels: string[] };
    if (values.length !== rows.levels.length * columns.levels.length) invalid('its cells do not match its levels');
    const cells = rows.levels.map((_, i) => columns.levels.map((__, j) => {
      const v = values[i * columns.levels.length + j];
      return v === null || v === undefined ? null : Number(v);
    }));
    return { kind: 'crosstab', rows, columns, cells, ...(result.suppressed?.threshold !== undefined ? { suppressedBelow: result.suppressed.threshold } : {}) };
  }
  if (layout.kind === 'vertical-summary') {
    const [n, sum, squares] = values as [bigint, bigint, bigint];
    const scale = 10 ** Number(layout.decimals);
    const count = Number(n);
    // n·Σx² − (Σx)² exactly in integers, then one division: no cancellation in floating point.
    const spread = Number(n * squares - sum * sum) / (scale * scale);
    return { kind: 'summary', column: String(layout.column), count, mean: Number(sum) / scale / count, variance: spread / (count * (count - 1)) };
  }
  if (layout.kind === 'normal-equations') {
    const fit = solveNormalEquations({ totals: result.totals, layout }, M);
    const terms = layout.terms as string[];
    const p = terms.length;
    const scale = 10 ** Number(layout.decimals);
    const real = values.map((v) => Number(v) / scale);
    const [n, yty] = real as [number, number];
    const xty = real.slice(2, 2 + p);
    const xtx = Array.from({ length: p }, () => new Array<number>(p).fill(0));
    let k = 2 + p;
    for (let i = 0; i < p; i++) for (let j = i; j < p; j++) xtx[i]![j] = xtx[j]![i] = real[k++]!;
    let inverse: number[][];
    try {
      inverse = invert(xtx);
    } catch {
      return invalid('XᵀX is singular (a term is constant, or one is a combination of others)');
    }
    const sigma2 = fit.rss / (n - p);
    const tss = yty - (xty[0]! * xty[0]!) / n;
    return {
      kind: 'regression', outcome: fit.outcome, terms, n: fit.n,
      coefficients: terms.map((t) => fit.coefficients[t]!),
      standardErrors: inverse.map((row, i) => Math.sqrt(sigma2 * row[i]!)),
      r2: 1 - fit.rss / tss,
    };
  }
  return invalid('its layout is not a crosstab, a vertical summary or normal equations');
}
