/**
 * Decodes what a secure sum over the analysis step's values gives the researcher — residue totals
 * modulo M and the layout — into count, mean, variance, standard deviation and the histogram.
 * The totals are exact integers in fixed point (algorithms/analyse/main.js); everything stays in
 * BigInt until the last division, so no rounding creeps in before it must.
 *
 * A histogram cell the finishing site suppressed (activities/disclosure-control.ts: below its
 * disclosure threshold, or hidden with one so that it cannot be worked out from the others)
 * arrives as null and decodes as `{ count: null, suppressed: true }`; `formatCellCount` shows it
 * as "<threshold".
 */
import { ErrorCode, ParleyError } from '../common/errors.ts';

/** What the analysis step says its values mean (algorithms/analyse/main.js). */
export interface StatisticsLayout {
  kind: 'statistics';
  column: string;
  decimals: number;
  bins: number[];
  /** With clipping bounds: the scaled centre the sums are taken relative to. */
  center?: bigint;
  bounds?: [number, number];
}

/** The final secure-sum step's output over statistics values. */
export interface StatisticsTotals {
  /** Residues; null where the finishing site suppressed a histogram cell. */
  totals: Array<string | null>;
  layout: unknown;
  /** Which histogram cells were suppressed (0 = below the first edge), and at what threshold. */
  suppressed?: unknown;
  /** A private secure sum's note of its noise: `{ mechanism: 'skellam', epsilon, delta, variances }`. */
  privacy?: unknown;
}

export interface HistogramCell {
  /** Lower edge (inclusive); null for the cell below the first edge. */
  from: number | null;
  /** Upper edge (exclusive); null for the cell at or above the last edge. */
  to: number | null;
  /** null when suppressed. */
  count: number | null;
  /** Present (true) when the finishing site suppressed this cell's count. */
  suppressed?: true;
}

export interface Statistics {
  column: string;
  count: number;
  /** NaN when the count is 0. */
  mean: number;
  /** The sample variance, Σ(x − mean)² / (n − 1); NaN when the count is below 2. */
  variance: number;
  /** √variance: the sample standard deviation. */
  sd: number;
  histogram: HistogramCell[];
  /** The finishing site's disclosure threshold, when it suppressed any cell. */
  suppressedBelow?: number;
  /** A private release: what it cost and how far each figure may be from the exact one. */
  privacy?: PrivacyReading;
}

/** A closed interval [low, high]; null where the noise leaves it unbounded (a count near 0, say). */
export type Interval = [number, number] | null;

export interface PrivacyReading {
  mechanism: 'skellam';
  epsilon: number;
  delta: number;
  /** The chance that each interval below holds its exact figure, at least. */
  confidence: number;
  intervals: { count: Interval; mean: Interval; variance: Interval; histogram: Interval[] };
}

/** A cell's count as a person reads it: the number, or "<threshold" when it was suppressed. */
export function formatCellCount(cell: HistogramCell, threshold: number | undefined): string {
  return cell.count === null ? `<${threshold ?? '?'}` : String(cell.count);
}

/** The suppression note, checked: the threshold and the set of suppressed cell indices. */
function checkSuppressed(note: unknown, cellCount: number): { threshold: number; cells: Set<number> } | undefined {
  if (note === undefined) return undefined;
  const n = note as { threshold?: unknown; cells?: unknown } | null;
  if (typeof n !== 'object' || n === null || !Number.isInteger(n.threshold) || (n.threshold as number) < 1 || !Array.isArray(n.cells) ||
    !n.cells.every((i) => Number.isInteger(i) && i >= 0 && i < cellCount)) {
    protocolError('The result\'s note of suppressed cells is not { threshold, cells }.');
  }
  return { threshold: n.threshold as number, cells: new Set(n.cells as number[]) };
}

function protocolError(message: string): never {
  throw new ParleyError(ErrorCode.StepProtocol, message);
}

function checkLayout(layout: unknown): StatisticsLayout {
  const l = layout as Partial<StatisticsLayout> | null;
  const fix = 'Decode only the output of a secure sum over the analyse step\'s values.';
  if (typeof l !== 'object' || l === null || l.kind !== 'statistics') protocolError(`The result's layout is not a statistics layout (kind "statistics"). ${fix}`);
  if (typeof l.column !== 'string') protocolError(`The statistics layout names no column. ${fix}`);
  if (!Number.isInteger(l.decimals) || l.decimals! < 0 || l.decimals! > 6) protocolError(`The statistics layout's decimals must be a whole number from 0 to 6. ${fix}`);
  const bins = l.bins;
  if (!Array.isArray(bins) || bins.length < 2 || !bins.every((e) => typeof e === 'number' && Number.isFinite(e))) {
    protocolError(`The statistics layout's bins must be at least 2 finite numbers. ${fix}`);
  }
  for (let i = 1; i < bins.length; i++) if (!(bins[i]! > bins[i - 1]!)) protocolError(`The statistics layout's bins must be strictly increasing. ${fix}`);
  const raw = layout as { center?: unknown; bounds?: unknown };
  if (raw.center === undefined) return { kind: 'statistics', column: l.column, decimals: l.decimals!, bins };
  if (typeof raw.center !== 'string' || !/^-?[0-9]{1,30}$/.test(raw.center)) protocolError(`The statistics layout's center must be a decimal integer string. ${fix}`);
  const bounds = raw.bounds;
  if (!Array.isArray(bounds) || bounds.length !== 2 || !bounds.every((b) => typeof b === 'number' && Number.isFinite(b))) protocolError(`The statistics layout's bounds must be two numbers. ${fix}`);
  return { kind: 'statistics', column: l.column, decimals: l.decimals!, bins, center: BigInt(raw.center), bounds: [bounds[0], bounds[1]] };
}

/** The histogram's cells between `edges`: null counts are the cells the finishing site suppressed. */
function histogramOf(edges: number[], counts: Array<number | null>): HistogramCell[] {
  return counts.map((count, i) => ({
    from: i === 0 ? null : edges[i - 1]!,
    to: i === edges.length ? null : edges[i]!,
    ...(count === null ? { count: null, suppressed: true as const } : { count }),
  }));
}

/** A residue in [0, M) as a signed integer: those above M/2 stand for negative values. */
function signed(text: unknown, modulus: bigint, index: number): bigint {
  if (typeof text !== 'string' || !/^[0-9]+$/.test(text)) protocolError(`Total ${index} of the result is not a decimal residue string.`);
  const residue = BigInt(text);
  if (residue >= modulus) protocolError(`Total ${index} of the result is not below the modulus: was it summed with another modulus?`);
  return residue > modulus / 2n ? residue - modulus : residue;
}

/** a / b as a double, for BigInts too large for Number: scaled so the quotient keeps ~17 digits. */
function ratio(a: bigint, b: bigint): number {
  if (b === 0n) return Number.NaN;
  const negative = (a < 0n) !== (b < 0n);
  const x = a < 0n ? -a : a;
  const y = b < 0n ? -b : b;
  // Integer division after scaling by 10^k: the quotient's digits, then one floating division.
  const k = Math.max(0, 20 - (x.toString().length - y.toString().length));
  const q = Number((x * 10n ** BigInt(k)) / y) / 10 ** k;
  return negative ? -q : q;
}

/**
 * Decodes secure-sum totals over the analysis step's values, `[count, sum, sumOfSquares, below,
 * bin0, …, above]`, with `modulus` the secure sum's public modulus (residues above M/2 decode as
 * negative). The variance is the **sample** variance (divisor n − 1), computed exactly as
 * (n·Σx² − (Σx)²) / (n·(n − 1)) in the values' fixed point before the one final division.
 *
 * @throws ParleyError StepProtocol when the layout is not a statistics layout, the number of totals
 *   does not match its bins, a total is not a residue below the modulus, or the counts disagree.
 */
export function decodeStatistics(result: StatisticsTotals, modulus: string | bigint): Statistics {
  const m = typeof modulus === 'bigint' ? modulus : /^[0-9]+$/.test(modulus) ? BigInt(modulus) : protocolError('The modulus must be a decimal integer string.');
  if (m < 2n) protocolError('The modulus must be at least 2.');
  const layout = checkLayout(result?.layout);
  if (result.privacy !== undefined) return decodeNoisy(result, m, layout);
  const expected = 3 + layout.bins.length + 1;
  if (!Array.isArray(result.totals) || result.totals.length !== expected) {
    protocolError(
      `The result has ${Array.isArray(result.totals) ? result.totals.length : 'no list of'} totals, but its layout (${layout.bins.length} bin edges) needs ${expected}: ` +
        'count, sum, sum of squares and one per histogram cell. Was it summed over another layout?',
    );
  }
  const suppressed = checkSuppressed(result.suppressed, layout.bins.length + 1);
  const [n, sum, sumOfSquares, ...cells] = result.totals.map((t, i) => {
    if (t !== null) return signed(t, m, i);
    if (suppressed?.cells.has(i - 3)) return null;
    return protocolError(`Total ${i} of the result is missing, and the result does not say it was suppressed.`);
  }) as [bigint | null, bigint | null, bigint | null, ...Array<bigint | null>];
  if (n === null || sum === null || sumOfSquares === null) protocolError('The result\'s count, sum or sum of squares is missing.');
  if (n < 0n) protocolError('The decoded count is negative: the totals were not summed over statistics values with this modulus.');
  const released = cells.filter((c): c is bigint => c !== null);
  const releasedTotal = released.reduce((a, b) => a + b, 0n);
  // With cells suppressed the released ones add up to less than the count; without, to it exactly.
  if (released.some((c) => c < 0n) || (released.length === cells.length ? releasedTotal !== n : releasedTotal > n)) {
    protocolError('The histogram\'s cells do not add up to the count: the totals were not summed over statistics values with this modulus.');
  }
  const scale = 10n ** BigInt(layout.decimals);
  // With bounds the sums are of (value − centre): the centre goes back on the mean only.
  const mean = ratio(sum + n * (layout.center ?? 0n), n * scale);
  // Σ(x − x̄)² · n = n·Σx² − (Σx)², all in the squared scale: exact, and never negative.
  const spread = n * sumOfSquares - sum * sum;
  if (spread < 0n) protocolError('The sum of squares is too small for the sum: the totals were not summed over statistics values with this modulus.');
  const variance = n < 2n ? Number.NaN : ratio(spread, n * (n - 1n) * scale * scale);
  const histogram = histogramOf(layout.bins, cells.map((c) => (c === null ? null : Number(c))));
  return {
    column: layout.column, count: Number(n), mean, variance, sd: Math.sqrt(variance), histogram,
    ...(suppressed && suppressed.cells.size > 0 ? { suppressedBelow: suppressed.threshold } : {}),
  };
}

/** The 95 % the intervals of a private release hold with, each at least. */
export const INTERVAL_CONFIDENCE = 0.95;

/**
 * Half the width of an interval that holds Sk(μ) noise with probability ≥ 1 − β. The Skellam
 * law's log moment generating function μ(cosh λ − 1) is at most μλ² / (2(1 − λ/3)), so it is
 * sub-gamma with variance factor μ and scale 1/3, and Bernstein's inequality gives
 * P(|X| ≥ t) ≤ 2 exp(−t² / (2(μ + t/3))) (Boucheron, Lugosi, Massart, Concentration
 * Inequalities, 2013, §2.4). Solved for t: a bound, not an approximation, so the stated
 * confidence holds for small μ too.
 */
export function skellamHalfWidth(variance: number, beta: number): number {
  const l = Math.log(2 / beta);
  return l / 3 + Math.sqrt((l / 3) ** 2 + 2 * variance * l);
}

function checkPrivacyNote(note: unknown, length: number): { epsilon: number; delta: number; variances: number[] } {
  const p = note as { mechanism?: unknown; epsilon?: unknown; delta?: unknown; variances?: unknown } | null;
  const ok = typeof p === 'object' && p !== null && p.mechanism === 'skellam' && typeof p.epsilon === 'number' && typeof p.delta === 'number' &&
    Array.isArray(p.variances) && p.variances.length === length && p.variances.every((v) => typeof v === 'string' && Number(v) >= 0);
  if (!ok) protocolError('The result\'s note of its noise is not { mechanism: "skellam", epsilon, delta, variances } with one variance per total.');
  return { epsilon: p.epsilon as number, delta: p.delta as number, variances: (p.variances as string[]).map(Number) };
}

/**
 * A private release's statistics: the noisy figures themselves (post-processing costs no privacy)
 * and, for each, an interval that holds the exact figure with probability ≥ 95 %. Count and
 * cells: the noise bound on their own total. Mean and variance: the bounds of count, sum and sum
 * of squares taken together (a union bound, β split between them) and the figure's extremes over
 * that box.
 */
function decodeNoisy(result: StatisticsTotals, m: bigint, layout: StatisticsLayout): Statistics {
  const cellCount = layout.bins.length + 1;
  const expected = 3 + cellCount;
  if (!Array.isArray(result.totals) || result.totals.length !== expected) protocolError(`The result has the wrong number of totals for its layout (${expected} expected).`);
  const note = checkPrivacyNote(result.privacy, expected);
  const suppressed = checkSuppressed(result.suppressed, cellCount);
  const values = result.totals.map((t, i) => {
    if (t !== null) return Number(signed(t, m, i));
    if (i >= 3 && suppressed?.cells.has(i - 3)) return null;
    return protocolError(`Total ${i} of the result is missing, and the result does not say it was suppressed.`);
  });
  const [n, sum, squares] = values as [number | null, number | null, number | null];
  if (n === null || sum === null || squares === null) protocolError('The result\'s count, sum or sum of squares is missing.');
  const beta = 1 - INTERVAL_CONFIDENCE;
  const [vn, vs, vq] = note.variances as [number, number, number];
  const scale = 10 ** layout.decimals;
  const centre = Number(layout.center ?? 0n) / scale;
  const box = (v: number, width: number): [number, number] => [v - width, v + width];
  const countInterval = box(n, skellamHalfWidth(vn, beta));
  // Joint intervals for mean and variance: β shared by the totals they rest on.
  const nJoint = box(n, skellamHalfWidth(vn, beta / 3));
  const sJoint = box(sum, skellamHalfWidth(vs, beta / 3));
  const qJoint = box(squares, skellamHalfWidth(vq, beta / 3));
  const meanInterval: Interval = nJoint[0] <= 0 ? null : (() => {
    const corners = [sJoint[0] / nJoint[0], sJoint[0] / nJoint[1], sJoint[1] / nJoint[0], sJoint[1] / nJoint[1]];
    return [centre + Math.min(...corners) / scale, centre + Math.max(...corners) / scale];
  })();
  // Sample variance (Q − S²/N) / (N − 1) of the centred values; its extremes over the box.
  const minS2 = sJoint[0] <= 0 && sJoint[1] >= 0 ? 0 : Math.min(sJoint[0] ** 2, sJoint[1] ** 2);
  const maxS2 = Math.max(sJoint[0] ** 2, sJoint[1] ** 2);
  const varianceInterval: Interval = nJoint[0] <= 1 ? null : [
    Math.max(0, (qJoint[0] - maxS2 / nJoint[0]) / (nJoint[1] - 1)) / scale ** 2,
    Math.max(0, (qJoint[1] - minS2 / nJoint[1]) / (nJoint[0] - 1)) / scale ** 2,
  ];
  const mean = n > 0 ? centre + sum / n / scale : Number.NaN;
  const variance = n > 1 ? Math.max(0, (squares - (sum * sum) / n) / (n - 1)) / scale ** 2 : Number.NaN;
  const cells = values.slice(3);
  const histogram = histogramOf(layout.bins, cells);
  const cellIntervals = cells.map((count, i): Interval => (count === null ? null : box(count, skellamHalfWidth(note.variances[3 + i]!, beta))));
  return {
    column: layout.column, count: n, mean, variance, sd: Math.sqrt(variance), histogram,
    ...(suppressed && suppressed.cells.size > 0 ? { suppressedBelow: suppressed.threshold } : {}),
    privacy: {
      mechanism: 'skellam', epsilon: note.epsilon, delta: note.delta, confidence: INTERVAL_CONFIDENCE,
      intervals: { count: countInterval, mean: meanInterval, variance: varianceInterval, histogram: cellIntervals },
    },
  };
}

/** A private release's cost and intervals, as lines for people. */
export function describePrivacy(p: PrivacyReading, digits = 3): string[] {
  const show = (i: Interval) => (i === null ? 'unbounded (too few rows for the noise)' : `[${i[0].toFixed(digits)}, ${i[1].toFixed(digits)}]`);
  const percent = `${Math.round(p.confidence * 100)} %`;
  return [
    `  differential privacy: ε ${p.epsilon}, δ ${p.delta < 1e-3 ? p.delta.toExponential() : p.delta} spent (Skellam noise, added by the sites before the sum)`,
    `  ${percent} intervals: count ${show(p.intervals.count)}, mean ${show(p.intervals.mean)}, variance ${show(p.intervals.variance)}`,
  ];
}
