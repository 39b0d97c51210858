/**
 * Local statistics of one column of the cohort the preprocess step left in the run volume, as
 * exact integers ready for a secure sum: count, sum, sum of squares and a histogram. The secure
 * sum adds them across sites; the researcher decodes mean, variance and the histogram from the
 * totals (researcher/statistics.ts). Sends nothing and outputs nothing.
 *
 * Args: {
 *   column: string        the cohort column to analyse
 *   decimals: 0..6        fixed point: a value v counts as round(v × 10^decimals), half away from
 *                         zero, computed exactly from its decimal text (no floating point)
 *   bins: number[]        histogram edges e0 < e1 < … (at least 2): cells below (< e0), [e_i, e_i+1),
 *                         above (≥ e_last)
 *   values?: string       the file written in the run volume (default "statistics.json")
 *   bounds?: [lo, hi]     clip each value to [lo, hi] (each with at most `decimals` decimal places)
 *                         and sum values relative to the centre c of the bounds: what a secure sum
 *                         with differential privacy needs, for one row then moves the sum by at most
 *                         B = max(hi − c, c − lo) and the sum of squares by at most B² (its
 *                         sensitivity; algorithms/lib/privacy.js)
 * }
 * Over the rows whose cell in `column` is a number (empty or unparseable cells are left out) it
 * writes /run/parley/volume/<values> (0600):
 *   { layout: { kind: 'statistics', column, decimals, bins },
 *     values: [count, sum, sumOfSquares, below, bin0, …, above] }   decimal integer strings
 * where sum is of the scaled values (scale 10^decimals) and sumOfSquares of their squares (scale
 * 10^(2·decimals)). With bounds, the layout also holds `bounds` and `center` (the scaled centre, a
 * decimal integer string), and sum and sumOfSquares are of (clipped value − center).
 *
 * Disclosure control: when the count is below the site's threshold (PARLEY_MIN_ROWS, the
 * operator's disclosureThreshold), the step fails and writes nothing. No message says the count.
 */
import { rmSync } from 'node:fs';
import { args, fail, minRows, readVolumeJson, volumeFile, writeVolumeJson } from '#parley';

const COHORT_FILE = 'cohort.json';
const DEFAULT_VALUES_FILE = 'statistics.json';
const FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const NUMBER = /^([+-]?)([0-9]*)(?:\.([0-9]*))?(?:[eE]([+-]?[0-9]{1,3}))?$/;
/** Enough edges for any histogram a researcher reads; a bound keeps the vector small. */
const MAX_BINS = 1000;

function checkArgs() {
  const { column, decimals, bins, values = DEFAULT_VALUES_FILE } = args;
  if (typeof column !== 'string' || column === '') return fail('args.column must name a column of the cohort, e.g. "lab_value".');
  if (!Number.isInteger(decimals) || decimals < 0 || decimals > 6) return fail('args.decimals must be a whole number from 0 to 6: the decimal places each value keeps.');
  if (!Array.isArray(bins) || bins.length < 2 || bins.length > MAX_BINS || !bins.every((e) => typeof e === 'number' && Number.isFinite(e))) {
    return fail(`args.bins must be a list of 2 to ${MAX_BINS} finite numbers: the histogram's edges.`);
  }
  for (let i = 1; i < bins.length; i++) if (!(bins[i] > bins[i - 1])) return fail('args.bins must be strictly increasing: each edge above the one before it.');
  if (typeof values !== 'string' || !FILE_NAME.test(values) || values === COHORT_FILE) {
    return fail('args.values must be a file name for the run volume (one path segment, not "cohort.json"), e.g. "statistics.json".');
  }
  return { column, decimals, bins, values, bounds: checkBounds(args.bounds, decimals) };
}

/** The scaled clipping bounds and their centre, or undefined without `bounds`. */
function checkBounds(bounds, decimals) {
  if (bounds === undefined) return undefined;
  const fix = `args.bounds must be [lo, hi]: two numbers with lo < hi and at most ${decimals} decimal places (args.decimals), e.g. [4, 14].`;
  if (!Array.isArray(bounds) || bounds.length !== 2 || !bounds.every((b) => typeof b === 'number' && Number.isFinite(b))) return fail(fix);
  const [lo, hi] = bounds.map((b) => scaleExactly(String(b), decimals));
  // Exactly representable at the step's decimals: every party then scales them to the same integers.
  if (lo === undefined || hi === undefined || !(lo < hi) || bounds.some((b, i) => Number(`${[lo, hi][i]}e-${decimals}`) !== b)) return fail(fix);
  return { raw: bounds, lo, hi, center: (lo + hi) / 2n };
}

/**
 * round(text × 10^decimals), half away from zero, exactly, from a decimal number's text; undefined
 * when the text is not a number.
 * @param {string} text
 * @param {number} decimals
 * @returns {bigint | undefined}
 */
function scaleExactly(text, decimals) {
  const match = NUMBER.exec(text);
  if (!match) return undefined;
  const [, sign, whole = '', fraction = '', exponent = '0'] = match;
  if (whole === '' && fraction === '') return undefined;
  const digits = BigInt(`${whole}${fraction}` || '0');
  // value = digits × 10^(exponent − fraction length); scaled, the power is shifted by decimals.
  const shift = Number(exponent) - fraction.length + decimals;
  let magnitude;
  if (shift >= 0) {
    magnitude = digits * 10n ** BigInt(shift);
  } else {
    const divisor = 10n ** BigInt(-shift);
    magnitude = digits / divisor;
    if (2n * (digits % divisor) >= divisor) magnitude += 1n;
  }
  return sign === '-' ? -magnitude : magnitude;
}

function clip(value, lo, hi) {
  return value < lo ? lo : value > hi ? hi : value;
}

/** The cohort the preprocess step wrote; fails clearly when it is missing or not a cohort. */
function readCohort() {
  const cohort = readVolumeJson(COHORT_FILE);
  if (cohort === undefined) return fail('There is no cohort in the run volume: run the preprocess step first, at this site and in this run.');
  if (typeof cohort !== 'object' || cohort === null || !Array.isArray(cohort.columns) || !Array.isArray(cohort.rows)) {
    return fail('cohort.json in the run volume is not { columns, rows }: run the preprocess step first.');
  }
  return cohort;
}

function main() {
  const { column, decimals, bins, values, bounds } = checkArgs();
  const threshold = minRows();
  const cohort = readCohort();
  const at = cohort.columns.indexOf(column);
  if (at < 0) return fail(`args.column "${column}" is not a column of the cohort (its columns: ${cohort.columns.join(', ')}).`);
  // Whatever an earlier attempt left is not this step's result: nothing is released unless it all succeeds.
  rmSync(volumeFile(values), { force: true });

  let count = 0n;
  let sum = 0n;
  let sumOfSquares = 0n;
  // cells[0] is below e0, cells[i + 1] is [e_i, e_i+1), the last is ≥ e_last.
  const cells = new Array(bins.length + 1).fill(0n);
  for (const row of cohort.rows) {
    const cell = Array.isArray(row) && typeof row[at] === 'string' ? row[at].trim() : '';
    const exact = cell === '' ? undefined : scaleExactly(cell, decimals);
    if (exact === undefined) continue;
    // With bounds: clipped, and relative to the centre.
    const scaled = bounds ? clip(exact, bounds.lo, bounds.hi) - bounds.center : exact;
    count += 1n;
    sum += scaled;
    sumOfSquares += scaled * scaled;
    // Binned by the value itself (the nearest double to its text), not the rounded one.
    const value = Number(cell);
    let cellIndex = 0;
    while (cellIndex < bins.length && value >= bins[cellIndex]) cellIndex++;
    cells[cellIndex] += 1n;
  }

  if (count < BigInt(threshold)) {
    return fail(`This site's cohort has fewer rows than its disclosure threshold (${threshold}) allows; nothing was released.`);
  }
  writeVolumeJson(values, {
    layout: { kind: 'statistics', column, decimals, bins, ...(bounds ? { bounds: bounds.raw, center: bounds.center.toString() } : {}) },
    values: [count, sum, sumOfSquares, ...cells].map((v) => v.toString()),
  });
}

try {
  main();
} catch (err) {
  fail(`analyse failed: ${err instanceof Error ? err.message : 'unknown error'}`);
}
