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
}

/** The final secure-sum step's output over statistics values. */
export interface StatisticsTotals {
  /** Residues; null where the finishing site suppressed a histogram cell. */
  totals: Array<string | null>;
  layout: unknown;
  /** Which histogram cells were suppressed (0 = below the first edge), and at what threshold. */
  suppressed?: unknown;
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
  return { kind: 'statistics', column: l.column, decimals: l.decimals!, bins };
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
  const mean = ratio(sum, n * scale);
  // Σ(x − x̄)² · n = n·Σx² − (Σx)², all in the squared scale: exact, and never negative.
  const spread = n * sumOfSquares - sum * sum;
  if (spread < 0n) protocolError('The sum of squares is too small for the sum: the totals were not summed over statistics values with this modulus.');
  const variance = n < 2n ? Number.NaN : ratio(spread, n * (n - 1n) * scale * scale);
  const edges = layout.bins;
  const histogram = cells.map((count, i) => ({
    from: i === 0 ? null : edges[i - 1]!,
    to: i === edges.length ? null : edges[i]!,
    ...(count === null ? { count: null, suppressed: true as const } : { count: Number(count) }),
  }));
  return {
    column: layout.column, count: Number(n), mean, variance, sd: Math.sqrt(variance), histogram,
    ...(suppressed && suppressed.cells.size > 0 ? { suppressedBelow: suppressed.threshold } : {}),
  };
}
