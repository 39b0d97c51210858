/**
 * The noise plan of a differentially private secure sum (`#parley/privacy` in every image): how
 * sensitive each coordinate of a values layout is to one person's row, how much Skellam noise the
 * released total must carry per coordinate, the check that a site's own values keep to their
 * declared bounds, and this site's share of the noise. Node built-ins only; refusals are thrown
 * as NoisePlanError, which the images turn into the step's failure.
 *
 * Mechanism and analysis: the Skellam mechanism, Agarwal, Kairouz, Liu, NeurIPS 2021
 * (arXiv:2110.04995); the accountant that calibrates its unit variance λ is
 * common/privacy/rdp.ts (calibrateSkellam).
 *
 * Layouts (what the analysis step writes with `bounds: [lo, hi]`):
 *   { kind: 'statistics', column, decimals, bins, bounds: [lo, hi], center: "<int>" }
 *   values = [count, sum, sumOfSquares, below, bin0, …, above], where each row's value v, scaled by
 *   10^decimals and clipped to the scaled bounds, adds (v − center) to sum and (v − center)² to
 *   sumOfSquares;
 * and COUNT_LAYOUT, the one count of an `args.dataset` run.
 */
import { sampleSkellam } from '#parley/skellam';

/** Why a noise plan was refused; `code` is stable, the message says what to do and holds no value. */
export class NoisePlanError extends Error {
  /**
   * @param {'ERR_DP_LAYOUT' | 'ERR_DP_BOUNDS' | 'ERR_DP_ARGS'} code
   * @param {string} message
   */
  constructor(code, message) {
    super(message);
    this.name = 'NoisePlanError';
    this.code = code;
  }
}

/** The layout of a scalar count run (`args.dataset`): one coordinate, sensitivity 1. */
export const COUNT_LAYOUT = Object.freeze({ kind: 'count' });

const SIGNED_DECIMAL = /^-?[0-9]+$/;
const NUMBER_TEXT = /^(-?)([0-9]+)(?:\.([0-9]+))?(?:e([+-]?[0-9]+))?$/;
const NEEDS_BOUNDS =
  'Differential privacy needs the analysis step\'s `bounds` arg (e.g. bounds: [0, 20] for the lab value): ' +
  'the noise is scaled to how much one row can change the values, and only declared, clipped bounds limit that.';

/**
 * round(x × 10^decimals), half away from zero, exactly: computed from the shortest decimal text
 * of the double x (String(x)), not in floating point, so 0.1 scales to 1 and not 1.0000000000000002.
 * @param {number} x finite
 * @param {number} decimals
 * @returns {bigint}
 */
function scaleExactly(x, decimals) {
  const match = NUMBER_TEXT.exec(String(x));
  if (!match) throw new NoisePlanError('ERR_DP_LAYOUT', `The layout's bounds must be finite numbers. ${NEEDS_BOUNDS}`);
  const [, sign, whole, fraction = '', exponent = '0'] = match;
  const digits = BigInt(`${whole}${fraction}`);
  const shift = Number(exponent) - fraction.length + decimals;
  let magnitude;
  if (shift >= 0) magnitude = digits * 10n ** BigInt(shift);
  else {
    const divisor = 10n ** BigInt(-shift);
    magnitude = digits / divisor;
    if (2n * (digits % divisor) >= divisor) magnitude += 1n;
  }
  return sign === '-' ? -magnitude : magnitude;
}

/**
 * The scaled bounds, the centre and B = max(hi − center, center − lo) of a statistics layout;
 * NoisePlanError for any other layout or one whose bounds or centre are missing or invalid.
 * @param {unknown} layout
 * @returns {{ lo: bigint, hi: bigint, center: bigint, radius: bigint, cells: number }}
 */
export function scaledBounds(layout) {
  if (typeof layout !== 'object' || layout === null || layout.kind !== 'statistics') {
    throw new NoisePlanError('ERR_DP_LAYOUT', `Only a statistics layout (or a dataset's count) can be released with noise. ${NEEDS_BOUNDS}`);
  }
  const { decimals, bins, bounds, center } = layout;
  if (!Number.isInteger(decimals) || decimals < 0 || decimals > 6 || !Array.isArray(bins) || bins.length < 2) {
    throw new NoisePlanError('ERR_DP_LAYOUT', 'The statistics layout has no valid decimals (0 to 6) or bins (at least 2 edges): run the analysis step that writes it.');
  }
  if (!Array.isArray(bounds) || bounds.length !== 2 || !bounds.every((b) => typeof b === 'number' && Number.isFinite(b)) || !(bounds[0] < bounds[1])) {
    throw new NoisePlanError('ERR_DP_LAYOUT', `The layout has no valid bounds [lo, hi] (two finite numbers, lo below hi). ${NEEDS_BOUNDS}`);
  }
  if (typeof center !== 'string' || !SIGNED_DECIMAL.test(center) || center.length > 40) {
    throw new NoisePlanError('ERR_DP_LAYOUT', `The layout has no valid center (a decimal integer string). ${NEEDS_BOUNDS}`);
  }
  const lo = scaleExactly(bounds[0], decimals);
  const hi = scaleExactly(bounds[1], decimals);
  const c = BigInt(center);
  if (!(lo < hi) || c < lo || c > hi) {
    throw new NoisePlanError('ERR_DP_LAYOUT', `The layout's center is not between its scaled bounds, or the bounds are equal once scaled. ${NEEDS_BOUNDS}`);
  }
  const radius = hi - c > c - lo ? hi - c : c - lo;
  return { lo, hi, center: c, radius, cells: bins.length + 1 };
}

/**
 * @typedef {{ group: 'count' | 'sum' | 'sumOfSquares' | 'histogram', start: number, end: number, l1: bigint, l2: bigint }} SensitivityGroup
 * Coordinates [start, end) of the values vector and how far adding or removing one row moves them
 * together, in the L1 and L2 norms.
 */

/**
 * The sensitivity of each group of coordinates of `layout` to adding or removing one row:
 * count Δ = 1; sum Δ = B (each row adds v − center, |v − center| ≤ B once clipped); sumOfSquares
 * Δ = B² (it adds (v − center)², between 0 and B²); the histogram Δ1 = Δ2 = 1 (a row adds one to
 * one cell). COUNT_LAYOUT has the one group count. B uses the scaled bounds, computed exactly
 * from the bounds' decimal text (see scaleExactly).
 * @param {unknown} layout
 * @returns {SensitivityGroup[]}
 * @throws {NoisePlanError} for a layout without (valid) bounds and center, or of another kind
 */
export function sensitivityOf(layout) {
  if (typeof layout === 'object' && layout !== null && layout.kind === COUNT_LAYOUT.kind) {
    return [{ group: 'count', start: 0, end: 1, l1: 1n, l2: 1n }];
  }
  const { radius, cells } = scaledBounds(layout);
  // B ≥ 1: scaled bounds are distinct integers, so one of them is at least 1 from the centre.
  return [
    { group: 'count', start: 0, end: 1, l1: 1n, l2: 1n },
    { group: 'sum', start: 1, end: 2, l1: radius, l2: radius },
    { group: 'sumOfSquares', start: 2, end: 3, l1: radius * radius, l2: radius * radius },
    { group: 'histogram', start: 3, end: 3 + cells, l1: 1n, l2: 1n },
  ];
}

/**
 * The variance of the TOTAL noise the release carries, per coordinate: μ_g = G · λ · Δ_g² for the
 * coordinates of group g, with G the number of groups and λ = `unitVariance`, the variance that
 * makes one sensitivity-1 Skellam release (ε, δ)-DP (calibrateSkellam).
 *
 * Why the whole release then spends no more than a sensitivity-1 release of variance λ: write
 * ε_λ(α) = α/(2λ) + min(((2α − 1) + 6)/(4λ²), 3/(2λ)), the Theorem 3.5 bound (Agarwal et al.
 * 2021) at Δ1 = Δ2 = 1. Group g (Δ1 = Δ2 = Δ_g ≥ 1, variance μ_g = GλΔ_g²) obeys
 *   ε_g(α) ≤ αΔ_g²/(2μ_g) + min(((2α − 1)Δ_g² + 6Δ_g)/(4μ_g²), 3Δ_g/(2μ_g))
 *         = α/(2Gλ) + min(((2α − 1) + 6/Δ_g)/(4G²λ²Δ_g²), 3/(2GλΔ_g))
 *         ≤ α/(2Gλ) + min(((2α − 1) + 6)/(4G²λ²), 3/(2Gλ))            (Δ_g ≥ 1)
 *         ≤ α/(2Gλ) + min(((2α − 1) + 6)/(4λ²), 3/(2λ)) / G            (G ≥ 1)
 *         = ε_λ(α) / G.
 * One row moves every group at once, but each group's noise is independent, and the Rényi
 * divergence of independent products is the sum of theirs (Mironov 2017, Proposition 1), so the
 * release's curve is Σ_g ε_g(α) ≤ G · ε_λ(α)/G = ε_λ(α) = skellamRdp(λ, {l1: 1, l2: 1}).
 * @param {unknown} layout a statistics layout with bounds, or COUNT_LAYOUT
 * @param {number} unitVariance λ > 0
 * @returns {number[]} one variance per coordinate of the values vector
 * @throws {NoisePlanError} as sensitivityOf, or for a unitVariance that is not a positive finite number
 */
export function noiseVariances(layout, unitVariance) {
  if (typeof unitVariance !== 'number' || !(unitVariance > 0) || !Number.isFinite(unitVariance)) {
    throw new NoisePlanError('ERR_DP_ARGS', 'args.privacy.unitVariance must be a positive finite number: calibrateSkellam(ε, δ) gives it.');
  }
  const groups = sensitivityOf(layout);
  const variances = [];
  for (const { start, end, l2 } of groups) {
    // Δ² can pass 2^53 (B² of a wide bound at 6 decimals); the variance is a double anyway.
    const mu = groups.length * unitVariance * Number(l2) * Number(l2);
    for (let i = start; i < end; i++) variances.push(mu);
  }
  return variances;
}

/**
 * Refuses values a layout's sensitivity does not cover: a count below 0, |sum| above B·count,
 * sumOfSquares outside [0, B²·count], a negative histogram cell or cells not summing to the count.
 * Values that break their bounds would let one row move the total further than the noise hides,
 * so they are never noised and released. The message names the check, never a value.
 * @param {ReadonlyArray<bigint | string>} values signed integers (BigInt or decimal strings)
 * @param {unknown} layout
 * @throws {NoisePlanError}
 */
export function checkAgainstBounds(values, layout) {
  const inconsistent = (what) =>
    new NoisePlanError('ERR_DP_BOUNDS', `This site's values are not consistent with their declared bounds (${what}): rerun the analysis step with the same bounds, unchanged.`);
  const toBig = (v) => {
    if (typeof v === 'bigint') return v;
    if (typeof v === 'string' && SIGNED_DECIMAL.test(v)) return BigInt(v);
    throw inconsistent('a value is not an integer');
  };
  const sensitivity = sensitivityOf(layout);
  const expected = sensitivity[sensitivity.length - 1].end;
  if (!Array.isArray(values) || values.length !== expected) throw inconsistent('the number of values does not match the layout');
  const v = values.map(toBig);
  const count = v[0];
  if (count < 0n) throw inconsistent('the count is negative');
  if (sensitivity.length === 1) return;
  const { radius } = scaledBounds(layout);
  const sum = v[1] < 0n ? -v[1] : v[1];
  if (sum > radius * count) throw inconsistent('the sum is beyond the bounds times the count');
  if (v[2] < 0n || v[2] > radius * radius * count) throw inconsistent('the sum of squares is beyond the bounds squared times the count');
  const cells = v.slice(3);
  if (cells.some((c) => c < 0n)) throw inconsistent('a histogram cell is negative');
  if (cells.reduce((a, c) => a + c, 0n) !== count) throw inconsistent('the histogram cells do not add up to the count');
}

/**
 * This site's share of the noise: Sk(μ_j / sites) for each coordinate j, so the shares of all
 * `sites` sum to Sk(μ_j) exactly (Skellams of independent draws add their variances).
 * @param {readonly number[]} variances the total-noise variances (noiseVariances)
 * @param {number} sites how many sites add a share, at least 1
 * @param {import('#parley/skellam').RandomSource} random cryptoRandom in the images
 * @returns {bigint[]}
 */
export function siteNoise(variances, sites, random) {
  if (!Number.isInteger(sites) || sites < 1) throw new TypeError('siteNoise: sites must be a whole number of at least 1.');
  return variances.map((mu) => sampleSkellam(mu / sites, random));
}
