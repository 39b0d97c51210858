/**
 * Small-cell control of a vertical analysis's aggregate (common/vertical.ts), the layouts the
 * aggregator of a vertical step releases, checked by its worker after the container is gone (as
 * disclosure-control.ts does for the horizontal layouts):
 *
 * - `crosstab` (`{ rows: { column, levels }, columns: { column, levels } }`, totals row-major):
 *   the whole count below the threshold is refused; a cell below it is suppressed, then, in every
 *   row, every column and the whole table, cells are suppressed in addition (smallest first)
 *   until the suppressed cells of that line hold at least the threshold — otherwise a known
 *   margin minus the released cells gives a suppressed cell back (secondary suppression,
 *   Hundepool et al., Statistical Disclosure Control, 2012, §5; DataSHIELD's nfilter.tab);
 * - `vertical-summary` (`[count, sum, sumOfSquares]` of a cohort): refused whole when the count
 *   is below the threshold (DataSHIELD's nfilter.subset).
 */
/** Which cells (row-major indices) of a rows × cols table to suppress at `threshold`. */
export function crosstabSuppression(cells: readonly bigint[], rows: number, cols: number, threshold: bigint): number[] {
  const suppressed = new Set(cells.flatMap((c, i) => (c < threshold ? [i] : [])));
  if (suppressed.size === 0) return [];
  const lines: number[][] = [
    ...Array.from({ length: rows }, (_, r) => Array.from({ length: cols }, (__, c) => r * cols + c)),
    ...Array.from({ length: cols }, (_, c) => Array.from({ length: rows }, (__, r) => r * cols + c)),
    cells.map((_, i) => i),
  ];
  // Until no line changes: a line (row, column, table) holding a suppressed cell holds at least
  // two, together at least the threshold, so no margin minus released cells gives one back.
  for (let changed = true; changed;) {
    changed = false;
    for (const line of lines) {
      const hidden = line.filter((i) => suppressed.has(i));
      if (hidden.length === 0 || hidden.length === line.length) continue;
      if (hidden.length >= 2 && hidden.reduce((a, i) => a + cells[i]!, 0n) >= threshold) continue;
      let smallest = -1;
      for (const i of line) if (!suppressed.has(i) && (smallest < 0 || cells[i]! < cells[smallest]!)) smallest = i;
      suppressed.add(smallest);
      changed = true;
    }
  }
  return [...suppressed].sort((a, b) => a - b);
}

/** The crosstab's shape, or a reason it has none. */
export function crosstabShape(layout: Record<string, unknown>, length: number): { rows: number; cols: number } | string {
  const levels = (side: unknown) => (typeof side === 'object' && side !== null && Array.isArray((side as { levels?: unknown }).levels) ? (side as { levels: unknown[] }).levels.length : 0);
  const rows = levels(layout.rows);
  const cols = levels(layout.columns);
  if (rows < 1 || cols < 1 || rows * cols !== length) return 'its crosstab layout does not match its cells';
  return { rows, cols };
}
