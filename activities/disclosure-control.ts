/**
 * Small-cell control of what a site releases: the last check a step's output meets before the
 * worker seals it for the requester. The finishing site of a secure sum (the ring's initiator at
 * `finish`, the additive protocol's aggregator at `combine`) is the only party that sees a total
 * in plaintext before it is sealed, so this is where a total is checked — in the worker, after
 * the container is gone, where no image can skip it.
 *
 * What is checked is the statistics format the analysis step writes (algorithms/analyse:
 * `{ layout: { kind: 'statistics', column, decimals, bins }, values: [count, sum, sumOfSquares,
 * below, bin0, …, above] }`), as it leaves a secure sum (`{ totals, layout }`, residues modulo the
 * step's public modulus) or, from an analysis image allowed to release its own output, as written
 * (`{ layout, values }`, signed decimal integers):
 *
 * - a whole count below the threshold is refused (ERR_DISCLOSURE_THRESHOLD): nothing is released;
 * - a histogram cell below the threshold (zero included) is **suppressed**: its count becomes
 *   null and the output says which cells and at what threshold. Then cells are suppressed in
 *   addition, smallest first, until the suppressed cells together hold at least the threshold —
 *   otherwise "count minus the released cells" gives the one suppressed cell back (secondary
 *   suppression, as statistical offices do it; Hundepool et al., Statistical Disclosure Control, 2012, §5);
 * - a regression's normal equations (normal-equations-control.ts) pass when the count and each
 *   indicator's two sides reach the threshold, and are refused whole otherwise;
 * - a vector total under any other layout is refused: the site cannot tell a count from a sum in
 *   a layout it does not know, and a relabelled layout must not be a way around the check.
 *
 * A scalar secure sum (`{ total }`) passes as it is: it adds the `count` file each operator put
 * in its own dataset for release, a figure the operator chose, not rows the site reads. Any other
 * output is the business of the image's release right on the allow-list.
 */
import { ErrorCode, ParleyError } from '../common/errors.ts';
import type { OrgId } from '../common/ids.ts';
import { NORMAL_EQUATIONS, normalEquationsProblem } from './normal-equations-control.ts';
import { crosstabShape, crosstabSuppression } from './vertical-control.ts';

/** Where a release happens and the site's threshold, for messages and the check. */
export interface ReleaseContext {
  runId: string;
  step: string;
  org: OrgId;
  /** The site's disclosure threshold (its `disclosureThreshold`), at least 1. */
  threshold: number;
  /** The secure sum's public modulus (the step's `args.modulus`), when the output is residues. */
  modulus?: unknown;
  /**
   * The output is a differentially private secure sum's total (the signed manifest says so):
   * its cells carry noise, so they need not add up to the count, and no secondary suppression is
   * needed — subtracting released cells from the count gives a suppressed cell back only with
   * the noise of every cell on it, which the privacy budget already accounts for.
   */
  noisy?: boolean;
}

/** What the output says about suppression: which histogram cells (0 = below the first edge). */
export interface SuppressionNote {
  threshold: number;
  cells: number[];
}

/** Fields of the values vector before the histogram's cells. */
const MOMENTS = 3;
const DECIMAL = /^-?[0-9]{1,400}$/;

/**
 * Returns the output to seal: unchanged, or with small histogram cells suppressed.
 * @throws ParleyError DisclosureThreshold when the whole count is below the threshold, or the
 *   output is a vector the site cannot check (an unknown layout, a malformed statistics vector).
 */
export function controlRelease(content: unknown, context: ReleaseContext): unknown {
  if (typeof content !== 'object' || content === null || Array.isArray(content)) return content;
  const record = content as Record<string, unknown>;
  const field = Array.isArray(record.totals) ? 'totals' : Array.isArray(record.values) && 'layout' in record ? 'values' : undefined;
  if (field === undefined) return content;
  const layout = record.layout as { kind?: unknown; bins?: unknown } | null | undefined;
  if (typeof layout === 'object' && layout !== null && layout.kind === NORMAL_EQUATIONS) {
    if (context.noisy) refuse(context, 'it is a regression\'s normal equations, which Parley adds no noise to');
    const numbers = (record[field] as unknown[]).map((text) => decode(text, field === 'totals' ? modulusOf(context) : undefined, context));
    const why = normalEquationsProblem(layout as Record<string, unknown>, numbers, context.threshold);
    if (why) refuse(context, why);
    return content;
  }
  if (typeof layout === 'object' && layout !== null && (layout.kind === 'crosstab' || layout.kind === 'vertical-summary')) {
    // A vertical step's aggregate (vertical-control.ts): residues of the step's modulus.
    if (field !== 'totals') refuse(context, 'it is a vertical analysis\'s aggregate that is not a protocol\'s totals');
    const numbers = (record.totals as unknown[]).map((text) => decode(text, modulusOf(context), context));
    const threshold = BigInt(context.threshold);
    if (layout.kind === 'vertical-summary') {
      if (numbers.length !== 3 || numbers[0]! < 0n) refuse(context, 'its summary is not a count, a sum and a sum of squares');
      if (numbers[0]! < threshold) refuse(context, `the cohort's count is below the disclosure threshold of ${context.threshold}`);
      return content;
    }
    const shape = crosstabShape(layout as Record<string, unknown>, numbers.length);
    if (typeof shape === 'string' || numbers.some((c) => c < 0n)) refuse(context, typeof shape === 'string' ? shape : 'its cells are not counts');
    if (numbers.reduce((a, b) => a + b, 0n) < threshold) refuse(context, `the table's whole count is below the disclosure threshold of ${context.threshold}`);
    const suppressed = crosstabSuppression(numbers, shape.rows, shape.cols, threshold);
    if (suppressed.length === 0) return content;
    const at = new Set(suppressed);
    return { ...record, totals: (record.totals as unknown[]).map((v, i) => (at.has(i) ? null : v)), suppressed: { threshold: context.threshold, cells: suppressed } };
  }
  if (typeof layout !== 'object' || layout === null || layout.kind !== 'statistics' || !Array.isArray(layout.bins)) {
    refuse(context, 'it is a vector of results whose layout is not a statistics layout, so the site cannot check its cells');
  }
  const raw = record[field] as unknown[];
  if (raw.length !== MOMENTS + layout.bins.length + 1) refuse(context, 'its statistics vector does not match its layout');
  const numbers = raw.map((text) => decode(text, field === 'totals' ? modulusOf(context) : undefined, context));
  const [count, ...rest] = numbers as [bigint, ...bigint[]];
  const cells = rest.slice(MOMENTS - 1);
  const threshold = BigInt(context.threshold);
  if (context.noisy && (field !== 'totals' || typeof record.privacy !== 'object' || record.privacy === null)) {
    refuse(context, 'it should be a private secure sum\'s total, and it carries no note of its noise');
  }
  if (!context.noisy && (count < 0n || cells.some((c) => c < 0n) || cells.reduce((a, b) => a + b, 0n) !== count)) {
    refuse(context, 'its histogram does not add up to its count, so the site cannot check its cells');
  }
  if (count < threshold) {
    refuse(context, `the whole cohort's ${context.noisy ? 'noisy ' : ''}count is below the disclosure threshold of ${context.threshold}`);
  }
  const suppressed = context.noisy ? cells.flatMap((c, i) => (c < threshold ? [i] : [])) : cellsToSuppress(cells, threshold);
  if (suppressed.length === 0) return content;
  const at = new Set(suppressed.map((i) => i + MOMENTS));
  const note: SuppressionNote = { threshold: context.threshold, cells: suppressed };
  return { ...record, [field]: raw.map((value, i) => (at.has(i) ? null : value)), suppressed: note };
}

/**
 * The cells to suppress: every cell below `threshold`, then — while the suppressed cells hold
 * fewer than `threshold` together and some cell is still released — the smallest released cell.
 * Returns cell indices in ascending order.
 */
export function cellsToSuppress(cells: readonly bigint[], threshold: bigint): number[] {
  const suppressed = new Set(cells.flatMap((c, i) => (c < threshold ? [i] : [])));
  if (suppressed.size === 0) return [];
  let hidden = [...suppressed].reduce((a, i) => a + cells[i]!, 0n);
  while (hidden < threshold && suppressed.size < cells.length) {
    let smallest = -1;
    cells.forEach((c, i) => {
      if (!suppressed.has(i) && (smallest < 0 || c < cells[smallest]!)) smallest = i;
    });
    suppressed.add(smallest);
    hidden += cells[smallest]!;
  }
  return [...suppressed].sort((a, b) => a - b);
}

function modulusOf(context: ReleaseContext): bigint {
  const m = context.modulus;
  if (typeof m !== 'string' || !/^[0-9]{1,400}$/.test(m) || BigInt(m) < 2n) refuse(context, 'it is a secure-sum total but the step names no modulus to read it with');
  return BigInt(m);
}

/** A value as a signed integer: a residue above M/2 stands for a negative one (researcher/statistics.ts). */
function decode(text: unknown, modulus: bigint | undefined, context: ReleaseContext): bigint {
  if (typeof text !== 'string' || !DECIMAL.test(text)) refuse(context, 'its statistics vector holds something other than decimal integers');
  const value = BigInt(text);
  if (modulus === undefined) return value;
  if (value < 0n || value >= modulus) refuse(context, 'its statistics vector holds residues outside the modulus');
  return value > modulus / 2n ? value - modulus : value;
}

/** The refusal: ids and the threshold, never a count. */
function refuse(context: ReleaseContext, why: string): never {
  throw new ParleyError(
    ErrorCode.DisclosureThreshold,
    `Step "${context.step}" at site "${context.org}" released nothing: ${why} (ERR_DISCLOSURE_THRESHOLD). ` +
      'Widen the cohort or the histogram\'s bins, or ask the site\'s operator about its disclosure threshold.',
    { runId: context.runId, step: context.step, org: context.org, threshold: context.threshold },
  );
}
