/**
 * Pearson's chi-square goodness-of-fit test for integer-valued samplers, with the reference
 * distributions the noise tests compare against: Poisson (pmf in log space) and Skellam (the
 * convolution of two Poisson pmfs). Written independently of the samplers under test: its own
 * log-gamma (Lanczos), its own pmfs, so a shared mistake cannot make both agree.
 */

/** log Γ(x) for x > 0, Lanczos approximation (g = 7, 9 terms; relative error below 1e-15). */
export function logGamma(x: number): number {
  const c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const z = x - 1;
  let a = c[0]!;
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) a += c[i]! / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

/** A pmf over the integers [from, from + p.length), with negligible mass outside. */
export interface Pmf {
  from: number;
  p: number[];
}

/** Poisson(mean) over mean ± 14 standard deviations (plus a margin for small means). */
export function poissonPmf(mean: number): Pmf {
  const spread = 14 * Math.sqrt(mean) + 30;
  const from = Math.max(0, Math.floor(mean - spread));
  const to = Math.ceil(mean + spread);
  const p: number[] = [];
  for (let k = from; k <= to; k++) p.push(Math.exp(k * Math.log(mean) - mean - logGamma(k + 1)));
  return { from, p };
}

/** The Skellam distribution of variance `variance`: Poisson(variance/2) − Poisson(variance/2), by convolution. */
export function skellamPmf(variance: number): Pmf {
  const half = poissonPmf(variance / 2);
  const n = half.p.length;
  // P(X − Y = d) = Σ_k P(X = k + d) P(Y = k); both over the same window, so d spans ±(n − 1).
  const p = new Array<number>(2 * n - 1).fill(0);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) p[i - j + n - 1]! += half.p[i]! * half.p[j]!;
  return { from: -(n - 1), p };
}

/** Regularised upper incomplete gamma Q(a, x) (Numerical Recipes, 3rd ed., §6.2: series or continued fraction). */
export function upperGammaQ(a: number, x: number): number {
  if (x <= 0) return 1;
  const lead = -x + a * Math.log(x) - logGamma(a);
  if (x < a + 1) {
    let term = 1 / a;
    let sum = term;
    for (let n = 1; n < 10_000 && Math.abs(term) > Math.abs(sum) * 1e-16; n++) {
      term *= x / (a + n);
      sum += term;
    }
    return 1 - sum * Math.exp(lead);
  }
  const tiny = 1e-300;
  let b = x + 1 - a;
  let c = 1 / tiny;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 10_000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return Math.exp(lead) * h;
}

export interface ChiSquareResult {
  statistic: number;
  degreesOfFreedom: number;
  /** P(χ² ≥ statistic) under the reference distribution. */
  pValue: number;
  bins: number;
}

/**
 * Pearson's test of integer draws against `pmf`. Adjacent values are pooled into bins of at least
 * `minExpected` expected draws (5 by convention, more gives fewer, stronger bins), which pools both
 * tails; a draw outside the pmf's window counts in the outermost bin.
 */
export function chiSquareTest(draws: ArrayLike<number>, pmf: Pmf, minExpected = 5): ChiSquareResult {
  const n = draws.length;
  // Bin edges: runs of values whose expected count reaches minExpected; the rest joins the last run.
  const binOf = new Int32Array(pmf.p.length);
  const expected: number[] = [];
  let acc = 0;
  for (let i = 0; i < pmf.p.length; i++) {
    binOf[i] = expected.length;
    acc += n * pmf.p[i]!;
    if (acc >= minExpected) {
      expected.push(acc);
      acc = 0;
    }
  }
  if (acc > 0) {
    for (let i = pmf.p.length - 1; i >= 0 && binOf[i] === expected.length; i--) binOf[i] = expected.length - 1;
    expected[expected.length - 1]! += acc;
  }
  const observed = new Array<number>(expected.length).fill(0);
  for (let i = 0; i < n; i++) {
    const at = Math.min(Math.max(draws[i]! - pmf.from, 0), pmf.p.length - 1);
    observed[binOf[at]!]! += 1;
  }
  let statistic = 0;
  for (let b = 0; b < expected.length; b++) statistic += (observed[b]! - expected[b]!) ** 2 / expected[b]!;
  const degreesOfFreedom = expected.length - 1;
  return { statistic, degreesOfFreedom, pValue: upperGammaQ(degreesOfFreedom / 2, statistic / 2), bins: expected.length };
}
