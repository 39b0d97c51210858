import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HEADERS, SOURCES, VERTICAL_DATA_DIR, checkDigit, generateVertical, isValidIdentifier, joinedTruth, validRows } from './generate.ts';

const committed = Object.fromEntries(SOURCES.map((s) => [s, readFileSync(join(VERTICAL_DATA_DIR, `${s}.csv`), 'utf8')])) as Record<(typeof SOURCES)[number], string>;

describe('vertical example data', () => {
  it('the committed CSVs are exactly what the script writes', () => {
    const fresh = generateVertical();
    for (const source of SOURCES) expect(fresh[source] === committed[source], `${source}.csv differs: rerun npx tsx examples/data/vertical/generate.ts and commit`).toBe(true);
  });

  it('has 5,000 / 4,000 / 3,000 rows, ~2,000 people in all three, and a few malformed identifiers and empty cells in each', () => {
    const rows = { hospital: 5000, lab: 4000, pharmacy: 3000 };
    for (const source of SOURCES) {
      const lines = committed[source].trimEnd().split('\n');
      expect(lines[0]).toBe(HEADERS[source]);
      expect(lines.length - 1).toBe(rows[source]);
      const body = lines.slice(1).map((l) => l.split(','));
      expect(body.filter((r) => !isValidIdentifier(r[0]!)).length).toBeGreaterThanOrEqual(3);
      expect(body.some((r) => r.slice(1).includes(''))).toBe(true);
    }
    const truth = joinedTruth(committed);
    expect(truth.length).toBeGreaterThan(1980);
    expect(truth.length).toBeLessThanOrEqual(2000);
    expect(truth.every((t) => isValidIdentifier(t.id))).toBe(true);
  });

  it('checks identifiers by the NHS number\'s modulus 11 scheme', () => {
    // 943 476 5919 is the NHS's own example of a valid number.
    expect(checkDigit('943476591')).toBe(9);
    expect(isValidIdentifier('9434765919')).toBe(true);
    expect(isValidIdentifier('9434765918')).toBe(false);
    expect(isValidIdentifier('943476591')).toBe(false);
    expect(validRows(`patient_id,x\n9434765919,1\n9434765919,2\n94347659l9,3\n`)).toEqual(new Map([['9434765919', ['1']]]));
  });
});
