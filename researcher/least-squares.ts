/**
 * Ordinary least squares in floating point, for checking a secure fit against the plaintext:
 * the researcher's decoding of a vertical regression (researcher/vertical.ts) inverts XᵀX with
 * `invert`, and `parley demo --vertical` and the tests fit the plaintext join with `olsFit`.
 */

/** Gauss–Jordan inverse with partial pivoting. @throws TypeError when `a` is singular. */
export function invert(a: number[][]): number[][] {
  const n = a.length;
  const m = a.map((row, i) => [...row, ...Array.from({ length: n }, (_, j) => (i === j ? 1 : 0))]);
  for (let c = 0; c < n; c++) {
    let pivot = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r]![c]!) > Math.abs(m[pivot]![c]!)) pivot = r;
    [m[c], m[pivot]] = [m[pivot]!, m[c]!];
    const d = m[c]![c]!;
    if (Math.abs(d) < 1e-12) throw new TypeError('The matrix is singular (a term is constant, or one is a combination of others).');
    for (let k = 0; k < 2 * n; k++) m[c]![k]! /= d;
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = m[r]![c]!;
      if (f !== 0) for (let k = 0; k < 2 * n; k++) m[r]![k]! -= f * m[c]![k]!;
    }
  }
  return m.map((row) => row.slice(n));
}

/** OLS of `y` on the rows of `x` (an intercept is a column of ones): coefficients, standard errors (σ̂² (XᵀX)⁻¹) and R². */
export function olsFit(x: number[][], y: number[]): { beta: number[]; se: number[]; r2: number } {
  const n = y.length;
  const p = x[0]!.length;
  const xtx = Array.from({ length: p }, (_, i) => Array.from({ length: p }, (__, j) => x.reduce((s, r) => s + r[i]! * r[j]!, 0)));
  const xty = Array.from({ length: p }, (_, i) => x.reduce((s, r, k) => s + r[i]! * y[k]!, 0));
  const inv = invert(xtx);
  const beta = inv.map((row) => row.reduce((s, v, j) => s + v * xty[j]!, 0));
  const fitted = x.map((r) => r.reduce((s, v, j) => s + v * beta[j]!, 0));
  const rss = y.reduce((s, v, k) => s + (v - fitted[k]!) ** 2, 0);
  const mean = y.reduce((a, b) => a + b, 0) / n;
  const tss = y.reduce((s, v) => s + (v - mean) ** 2, 0);
  const sigma2 = rss / (n - p);
  return { beta, se: inv.map((row, i) => Math.sqrt(sigma2 * row[i]!)), r2: 1 - rss / tss };
}
