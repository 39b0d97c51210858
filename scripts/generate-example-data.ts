/**
 * Writes the example datasets: one synthetic patient registry per site, `examples/data/registry-a.csv`
 * … `registry-e.csv`, with columns `patient_id,age,sex,diagnosis,lab_value` (an HbA1c-like value,
 * %, one decimal). A few cells are missing and a few rows malformed on purpose, so preprocessing
 * has something to drop.
 *
 * Reproducible byte for byte: a seeded PRNG (mulberry32) and only +, ×, floor and toFixed on
 * numbers well inside double precision, so no platform's Math.log or Math.cos can change a digit.
 *
 *   npx tsx scripts/generate-example-data.ts [--out DIR]    # default: examples/data
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** One site's registry: its file name, seed and number of data rows. */
interface SitePlan {
  file: string;
  prefix: string;
  seed: number;
  rows: number;
}

/** Five sites with different seeds and sizes (300–600 rows each). */
export const SITE_PLANS: readonly SitePlan[] = [
  { file: 'registry-a.csv', prefix: 'A', seed: 0x5eed_0a01, rows: 420 },
  { file: 'registry-b.csv', prefix: 'B', seed: 0x5eed_0b02, rows: 310 },
  { file: 'registry-c.csv', prefix: 'C', seed: 0x5eed_0c03, rows: 580 },
  { file: 'registry-d.csv', prefix: 'D', seed: 0x5eed_0d04, rows: 365 },
  { file: 'registry-e.csv', prefix: 'E', seed: 0x5eed_0e05, rows: 505 },
];

export const HEADER = 'patient_id,age,sex,diagnosis,lab_value';

/**
 * mulberry32 (Tommy Ettinger's 32-bit generator): tiny, fast, and good enough for synthetic
 * data. Not for anything secret. Returns uniform numbers in [0, 1).
 */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Diagnoses with weights; diabetes codes shift the lab value up, as HbA1c does. */
const DIAGNOSES: ReadonlyArray<{ code: string; weight: number; labMean: number }> = [
  { code: 'E11.9', weight: 22, labMean: 8.1 },
  { code: 'E11.65', weight: 6, labMean: 9.6 },
  { code: 'E10.9', weight: 5, labMean: 8.4 },
  { code: 'I10', weight: 20, labMean: 5.9 },
  { code: 'J45.9', weight: 12, labMean: 5.5 },
  { code: 'E78.5', weight: 12, labMean: 5.8 },
  { code: 'N18.3', weight: 8, labMean: 6.3 },
  { code: 'F32.9', weight: 9, labMean: 5.6 },
  { code: 'K21.9', weight: 6, labMean: 5.5 },
];
const TOTAL_WEIGHT = DIAGNOSES.reduce((sum, d) => sum + d.weight, 0);

/** Roughly normal: the sum of 12 uniforms minus 6 (Irwin–Hall), using no transcendental function. */
function standardNormal(random: () => number): number {
  let sum = 0;
  for (let i = 0; i < 12; i++) sum += random();
  return sum - 6;
}

function pick(random: () => number): (typeof DIAGNOSES)[number] {
  let draw = random() * TOTAL_WEIGHT;
  for (const d of DIAGNOSES) {
    draw -= d.weight;
    if (draw < 0) return d;
  }
  return DIAGNOSES[DIAGNOSES.length - 1]!;
}

/**
 * Rows that are malformed in every registry, whatever the draws: a short row, an `abc` age and an
 * `n/a` lab value, so each site's file has each kind at least once.
 */
const FORCED_DEFECTS: ReadonlyMap<number, number> = new Map([[7, 0], [23, 0.005], [51, 0.012]]);

/** One data line of a registry. About 3% of cells are missing and about 2% of rows malformed. */
function row(random: () => number, prefix: string, index: number): string {
  const id = `${prefix}${String(100000 + index * 7 + Math.floor(random() * 7))}`;
  const diagnosis = pick(random);
  const age = Math.min(95, Math.max(18, Math.floor(55 + standardNormal(random) * 15)));
  const sex = random() < 0.52 ? 'F' : 'M';
  const lab = Math.min(14, Math.max(4, diagnosis.labMean + standardNormal(random) * 1.1 + (age - 55) * 0.01));
  const cells = [id, String(age), sex, diagnosis.code, lab.toFixed(1)];

  const drawn = random();
  const defect = FORCED_DEFECTS.get(index) ?? drawn;
  if (defect < 0.004) return cells.slice(0, 3).join(','); // too few fields
  if (defect < 0.01) cells[1] = 'abc'; // age not an integer
  else if (defect < 0.018) cells[4] = 'n/a'; // lab value not a number
  else if (defect < 0.03) cells[4] = ''; // lab value missing
  else if (defect < 0.038) cells[1] = ''; // age missing
  else if (defect < 0.045) cells[2] = ''; // sex missing
  // A few quoted cells: valid CSV a parser must read as the bare value.
  if (random() < 0.03) cells[3] = `"${cells[3]}"`;
  return cells.join(',');
}

/** The registry of one site as the exact text written to its file. */
export function registryText(plan: SitePlan): string {
  const random = mulberry32(plan.seed);
  const lines = [HEADER];
  for (let i = 0; i < plan.rows; i++) lines.push(row(random, plan.prefix, i));
  return `${lines.join('\n')}\n`;
}

/** Every example dataset: file name → content. */
export function exampleDataFiles(): Map<string, string> {
  return new Map(SITE_PLANS.map((plan) => [plan.file, registryText(plan)]));
}

/** Where the committed datasets live. */
export const EXAMPLE_DATA_DIR = fileURLToPath(new URL('../examples/data/', import.meta.url));

async function main(argv: string[]): Promise<void> {
  const at = argv.indexOf('--out');
  const outDir = at >= 0 ? argv[at + 1] : EXAMPLE_DATA_DIR;
  if (!outDir) throw new Error('--out needs a directory: npx tsx scripts/generate-example-data.ts --out DIR');
  await mkdir(outDir, { recursive: true });
  for (const [file, text] of exampleDataFiles()) await writeFile(join(outDir, file), text);
  process.stdout.write(`Wrote ${SITE_PLANS.map((p) => p.file).join(', ')} to ${outDir}\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).catch((err) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
