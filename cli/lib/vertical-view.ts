/** A vertical step's decoded aggregate (researcher/vertical.ts) as lines for people. */
import type { VerticalResult } from '../../researcher/vertical.ts';

const number = (v: number, digits = 6) => (Number.isInteger(v) ? String(v) : v.toFixed(digits));

export function formatVerticalResult(result: VerticalResult): string[] {
  switch (result.kind) {
    case 'crosstab': {
      const width = Math.max(8, ...result.rows.levels.map((l) => l.length));
      const cell = (v: number | null) => (v === null ? `<${result.suppressedBelow ?? '?'}` : String(v)).padStart(8);
      return [
        `crosstab of ${result.rows.column} (rows) by ${result.columns.column} (columns)`,
        `  ${''.padEnd(width)}${result.columns.levels.map((l) => l.padStart(8)).join('')}`,
        ...result.rows.levels.map((level, i) => `  ${level.padEnd(width)}${result.cells[i]!.map(cell).join('')}`),
        ...(result.cells.flat().includes(null) ? ['  (cells shown as <N were suppressed by the sites\' disclosure control)'] : []),
      ];
    }
    case 'summary':
      return [`summary of ${result.column}: count ${result.count}, mean ${number(result.mean, 4)}, variance ${number(result.variance, 4)}`];
    case 'regression': {
      const width = Math.max(12, ...result.terms.map((t) => t.length));
      return [
        `linear regression of ${result.outcome} over ${result.n} linked rows (R² ${result.r2.toFixed(4)})`,
        `  ${'term'.padEnd(width)}  ${'coefficient'.padStart(14)}  ${'std. error'.padStart(12)}`,
        ...result.terms.map((t, i) => `  ${t.padEnd(width)}  ${number(result.coefficients[i]!).padStart(14)}  ${number(result.standardErrors[i]!).padStart(12)}`),
      ];
    }
  }
}
