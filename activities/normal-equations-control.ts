/**
 * Small-cell control of a linear regression's normal equations, the second vector layout a site
 * can check before releasing a secure sum's total (disclosure-control.ts has the first). The
 * layout is what examples/algorithms/linear-regression writes:
 *
 *   { kind: 'normal-equations', terms: [intercept, …], indicators: [term indices], decimals }
 *   values: [n, yᵀy, Xᵀy (p), the upper triangle of XᵀX row by row (p(p+1)/2)], each × 10^decimals
 *
 * What rests on few rows there: the whole count n, and for a 0/1 term (an indicator) the number
 * of rows where it is 1 (row 0 of XᵀX: Σ xⱼ) and where it is 0 (n minus that) — a regression on
 * "is in this small group" would otherwise hand out that group's sums. Both must reach the
 * threshold, or nothing is released. Numeric terms are sums over all n rows, as a statistics
 * layout's sum is. As with the statistics layout, the site trusts the allowed image's word on
 * which terms are indicators: the allow-list is where that image was reviewed.
 */

/** The layout's kind. */
export const NORMAL_EQUATIONS = 'normal-equations';

/** The most parameters per row a released regression may have (DataSHIELD nfilter.glm). */
export const GLM_RATIO = 0.33;

/** Fields of the values vector before Xᵀy: n and yᵀy. */
const HEAD = 2;

/**
 * Why this total may not be released (a sentence without any count), or undefined when it may.
 * `numbers` are the decoded signed values, in the layout's order.
 */
export function normalEquationsProblem(layout: Record<string, unknown>, numbers: readonly bigint[], threshold: number): string | undefined {
  const { terms, indicators, decimals } = layout;
  if (!Array.isArray(terms) || terms.length < 1 || terms.length > 64 || terms[0] !== 'intercept') return 'its normal-equations layout does not list its terms, intercept first';
  if (!Number.isInteger(decimals) || (decimals as number) < 0 || (decimals as number) > 9) return 'its normal-equations layout has no decimals from 0 to 9';
  const p = terms.length;
  const flags = indicators ?? [];
  if (!Array.isArray(flags) || !flags.every((i) => Number.isInteger(i) && i > 0 && i < p)) return 'its normal-equations layout names indicators that are not terms';
  if (numbers.length !== HEAD + p + (p * (p + 1)) / 2) return 'its normal-equations vector does not match its layout';
  const scale = 10n ** BigInt(decimals as number);
  // Row 0 of XᵀX's upper triangle holds n and Σ xⱼ: counts, for the intercept and each indicator.
  const row0 = numbers.slice(HEAD + p, HEAD + p + p);
  const counts = [numbers[0]!, ...(flags as number[]).map((j) => row0[j]!)];
  if (counts.some((c) => c < 0n || c % scale !== 0n) || row0[0] !== numbers[0]) return 'its counts are not whole numbers of rows, so the site cannot check them';
  const n = numbers[0]! / scale;
  const t = BigInt(threshold);
  if (n < t) return `the whole cohort's count is below the disclosure threshold of ${threshold}`;
  // DataSHIELD's nfilter.glm: more than 0.33 parameters per row fits the rows too closely to release.
  if (p > GLM_RATIO * Number(n)) return `it fits ${p} parameters to too few rows (at most ${GLM_RATIO} per row, DataSHIELD's nfilter.glm)`;
  for (const c of counts.slice(1)) {
    const ones = c / scale;
    if (ones < t || n - ones < t) return `an indicator term holds fewer rows on one side than the disclosure threshold of ${threshold}`;
  }
  return undefined;
}
