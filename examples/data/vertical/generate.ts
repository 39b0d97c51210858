/**
 * Three synthetic sources about overlapping people, for vertically partitioned analyses (issue
 * 15): `hospital.csv` (patient_id, age, sex, diagnosis), `lab.csv` (patient_id, hba1c, ldl) and
 * `pharmacy.csv` (patient_id, metformin, statin as 0/1) — 5,000 / 4,000 / 3,000 rows, 2,000
 * people in all three, and people each of the others lacks. No real person is in them.
 *
 * The identifier stands for a national patient number: 10 digits, the last a check digit by the
 * NHS number's modulus 11 scheme (weights 10…2 on the first nine digits; check = 11 − (sum mod
 * 11), 11 → 0, and a remainder giving 10 is not issued). A few rows carry a malformed identifier
 * (wrong check digit, 9 digits, a letter, empty) and a few an empty cell, on purpose.
 *
 * HbA1c (%) = 5.0 + 0.015·(age − 50) + 0.25·[male] + 0.9·metformin − 0.15·statin + N(0, 0.45²),
 * so a regression of HbA1c on age, sex, metformin and statin has real coefficients; metformin is
 * likelier with an E11 diagnosis, statins with age and E78.
 *
 * Reproducible byte for byte (seeded mulberry32, toFixed): `npx tsx examples/data/vertical/generate.ts
 * [--out DIR]`; generate.test.ts checks the committed files are what it writes. `joinedTruth`
 * recomputes the joined table (the ground truth a linkage must reproduce) from the files' text.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mulberry32 } from '../../../scripts/generate-example-data.ts';

export const VERTICAL_DATA_DIR = fileURLToPath(new URL('.', import.meta.url));
export const SEED = 15;
export const HEADERS = {
  hospital: 'patient_id,age,sex,diagnosis',
  lab: 'patient_id,hba1c,ldl',
  pharmacy: 'patient_id,metformin,statin',
} as const;
export type Source = keyof typeof HEADERS;
export const SOURCES: readonly Source[] = ['hospital', 'lab', 'pharmacy'];

/** How many people are in exactly which sources (sums: hospital 5,000, lab 4,000, pharmacy 3,000). */
const PATTERNS: ReadonlyArray<{ in: Source[]; people: number }> = [
  { in: ['hospital', 'lab', 'pharmacy'], people: 2000 },
  { in: ['hospital', 'lab'], people: 1200 },
  { in: ['hospital', 'pharmacy'], people: 600 },
  { in: ['lab', 'pharmacy'], people: 300 },
  { in: ['hospital'], people: 1200 },
  { in: ['lab'], people: 500 },
  { in: ['pharmacy'], people: 100 },
];
/** Rows per source whose identifier is spoiled, and rows with an empty cell. */
const MALFORMED_IDS = 5;
const EMPTY_CELLS = 4;

/** The NHS modulus 11 check digit of nine digits, or undefined when the scheme issues none. */
export function checkDigit(nine: string): number | undefined {
  let sum = 0;
  for (let i = 0; i < 9; i++) sum += Number(nine[i]) * (10 - i);
  const check = 11 - (sum % 11);
  if (check === 10) return undefined;
  return check === 11 ? 0 : check;
}

/** Whether `id` is a well-formed identifier: ten digits whose last is the modulus 11 check digit. */
export function isValidIdentifier(id: string): boolean {
  return /^[0-9]{10}$/.test(id) && checkDigit(id.slice(0, 9)) === Number(id[9]);
}

interface Person {
  id: string;
  age: number;
  sex: 'M' | 'F';
  diagnosis: string;
  hba1c: string;
  ldl: string;
  metformin: 0 | 1;
  statin: 0 | 1;
}

function gaussian(random: () => number): number {
  // Box–Muller; 1 − random() keeps the logarithm's argument in (0, 1].
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

function people(random: () => number): Person[] {
  const total = PATTERNS.reduce((n, p) => n + p.people, 0);
  const ids = new Set<string>();
  const out: Person[] = [];
  while (out.length < total) {
    const nine = `${1 + Math.floor(random() * 9)}${String(Math.floor(random() * 1e8)).padStart(8, '0')}`;
    const check = checkDigit(nine);
    if (check === undefined || ids.has(nine)) continue;
    ids.add(nine);
    const age = 18 + Math.floor(random() * 70);
    const sex = random() < 0.5 ? 'M' : 'F';
    const d = random();
    const diagnosis = d < 0.3 ? 'E11.9' : d < 0.5 ? 'E78.5' : d < 0.7 ? 'I10' : d < 0.85 ? 'J45.9' : 'Z00.0';
    const metformin = random() < (diagnosis === 'E11.9' ? 0.7 : 0.05) ? 1 : 0;
    const statin = random() < (diagnosis === 'E78.5' ? 0.6 : 0.05) + (age - 18) * 0.004 ? 1 : 0;
    const hba1c = 5.0 + 0.015 * (age - 50) + (sex === 'M' ? 0.25 : 0) + 0.9 * metformin - 0.15 * statin + 0.45 * gaussian(random);
    const ldl = 3.2 + 0.01 * (age - 50) - 0.9 * statin + 0.6 * gaussian(random);
    out.push({ id: `${nine}${check}`, age, sex, diagnosis, hba1c: hba1c.toFixed(2), ldl: Math.max(0.5, ldl).toFixed(2), metformin, statin });
  }
  return out;
}

function cells(person: Person, source: Source): string[] {
  if (source === 'hospital') return [String(person.age), person.sex, person.diagnosis];
  if (source === 'lab') return [person.hba1c, person.ldl];
  return [String(person.metformin), String(person.statin)];
}

/** Spoils an identifier in one of the ways a register's rows go wrong. */
function spoil(id: string, k: number): string {
  switch (k % 4) {
    case 0: return `${id.slice(0, 9)}${(Number(id[9]) + 1) % 10}`; // wrong check digit
    case 1: return id.slice(0, 9); // a digit short
    case 2: return `${id.slice(0, 4)}O${id.slice(5)}`; // a letter O for a zero
    default: return '';
  }
}

/** The three CSV texts, as committed. */
export function generateVertical(seed = SEED): Record<Source, string> {
  const random = mulberry32(seed);
  const everyone = people(random);
  const rows: Record<Source, string[][]> = { hospital: [], lab: [], pharmacy: [] };
  let next = 0;
  for (const pattern of PATTERNS) {
    for (let i = 0; i < pattern.people; i++) {
      const person = everyone[next++]!;
      for (const source of pattern.in) rows[source].push([person.id, ...cells(person, source)]);
    }
  }
  const out = {} as Record<Source, string>;
  for (const source of SOURCES) {
    const list = rows[source];
    // Each source in its own order (Fisher–Yates): row order says nothing about the others.
    for (let i = list.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [list[i], list[j]] = [list[j]!, list[i]!];
    }
    for (let k = 0; k < MALFORMED_IDS; k++) {
      const row = list[Math.floor(random() * list.length)]!;
      row[0] = spoil(row[0]!, k);
    }
    for (let k = 0; k < EMPTY_CELLS; k++) {
      const row = list[Math.floor(random() * list.length)]!;
      row[1 + Math.floor(random() * (row.length - 1))] = '';
    }
    out[source] = `${HEADERS[source]}\n${list.map((r) => r.join(',')).join('\n')}\n`;
  }
  return out;
}

/** One source's rows with a well-formed identifier, first occurrence kept, by identifier. */
export function validRows(text: string): Map<string, string[]> {
  const byId = new Map<string, string[]>();
  for (const line of text.trimEnd().split('\n').slice(1)) {
    const [id, ...rest] = line.split(',');
    if (id !== undefined && isValidIdentifier(id) && !byId.has(id)) byId.set(id, rest);
  }
  return byId;
}

/**
 * The joined table: every well-formed identifier present in all the given sources, with each
 * source's cells (identifier column left out), in identifier order.
 */
export function joinedTruth(texts: Partial<Record<Source, string>>): Array<{ id: string; cells: Partial<Record<Source, string[]>> }> {
  const sources = SOURCES.filter((s) => texts[s] !== undefined);
  const maps = sources.map((s) => validRows(texts[s]!));
  const ids = [...maps[0]!.keys()].filter((id) => maps.every((m) => m.has(id))).sort();
  return ids.map((id) => ({ id, cells: Object.fromEntries(sources.map((s, i) => [s, maps[i]!.get(id)!])) }));
}

function main(): void {
  const at = process.argv.indexOf('--out');
  const out = at >= 0 ? process.argv[at + 1]! : VERTICAL_DATA_DIR;
  mkdirSync(out, { recursive: true });
  const texts = generateVertical();
  for (const source of SOURCES) writeFileSync(join(out, `${source}.csv`), texts[source]);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();
