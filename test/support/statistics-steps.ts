/**
 * Helpers for the statistics images' tests: the example registries, reading a run volume back,
 * and a plain reference computation of what preprocess → analyse should give — written here
 * independently of the algorithms (no shared code), so a test compares two implementations.
 */
import { readFileSync } from 'node:fs';
import type Docker from 'dockerode';
import type { OrgId } from '../../common/ids.ts';
import { runTestStep } from './docker-sandbox.ts';
import { exampleRegistryFile } from '../../demo/example-chain.ts';

/** The committed example registry of one site: `a` … `e`. */
export function registryPath(site: 'a' | 'b' | 'c' | 'd' | 'e'): string {
  return exampleRegistryFile(site);
}

export interface Condition {
  column: string;
  op: '=' | '!=' | '<' | '<=' | '>' | '>=' | 'in' | 'startsWith';
  value: string | number | Array<string | number>;
}

/** The files a volume-reader step read: `{ mode, text }` each, or null when absent. */
export type VolumeFiles = Record<string, { mode: string; text: string } | null>;

/** Runs the volume-reader fixture at `org` in `runId` and returns the named files. */
export async function readVolume(docker: Docker, root: string, image: string, runId: string, org: OrgId, files: string[]): Promise<VolumeFiles> {
  const read = await runTestStep(docker, root, { image, runId, org, step: 'read-volume', participants: [org], args: { files } });
  if (read.exitCode !== 0) throw new Error(`volume-reader failed: ${read.logTail.join('\n')}`);
  return read.output as VolumeFiles;
}

/**
 * The rows of a registry CSV a correct preprocess keeps, by a deliberately plain reading: the
 * example files have no commas or line breaks inside quotes, so splitting lines and commas and
 * unquoting is enough here.
 */
export function referenceCohort(csv: string, where: Condition[]): { columns: string[]; rows: string[][]; malformed: number; filtered: number } {
  const [headerLine, ...lines] = csv.split('\n').filter((l) => l !== '');
  const columns = headerLine!.split(',');
  const unquote = (s: string) => (s.startsWith('"') && s.endsWith('"') ? s.slice(1, -1) : s);
  let malformed = 0;
  let filtered = 0;
  const rows: string[][] = [];
  for (const line of lines) {
    const cells = line.split(',').map(unquote);
    const cell = (name: string) => cells[columns.indexOf(name)]!;
    const badAge = cells.length === columns.length && cell('age') !== '' && !Number.isInteger(Number(cell('age')));
    const badLab = cells.length === columns.length && cell('lab_value') !== '' && Number.isNaN(Number(cell('lab_value')));
    if (cells.length !== columns.length || badAge || badLab) {
      malformed++;
      continue;
    }
    const holds = where.every(({ column, op, value }) => {
      const text = cell(column);
      if (text === '') return false;
      const eq = (v: string | number) => (typeof v === 'number' ? Number(text) === v : text === v);
      const cmp = (v: string | number) => (typeof v === 'number' ? Number(text) - v : text < v ? -1 : text > v ? 1 : 0);
      if (op === '=') return eq(value as string | number);
      if (op === '!=') return !eq(value as string | number);
      if (op === 'in') return (value as Array<string | number>).some(eq);
      if (op === 'startsWith') return text.startsWith(value as string);
      const c = cmp(value as string | number);
      if (Number.isNaN(c)) return false;
      return op === '<' ? c < 0 : op === '<=' ? c <= 0 : op === '>' ? c > 0 : c >= 0;
    });
    if (holds) rows.push(cells);
    else filtered++;
  }
  return { columns, rows, malformed, filtered };
}

/**
 * The analysis values of `column` over `rows`: [count, Σ round(x·10^d), Σ round(x·10^d)², below,
 * cells…, above] as BigInts, rounding half away from zero with Math.round on |x| (exact for the
 * registries' one-decimal values at 0–2 decimals).
 */
export function referenceValues(columns: string[], rows: string[][], column: string, decimals: number, bins: number[]): bigint[] {
  const xs = columnValues(columns, rows, column);
  const scaled = xs.map((x) => BigInt(Math.sign(x) * Math.round(Math.abs(x) * 10 ** decimals)));
  const cells = new Array<bigint>(bins.length + 1).fill(0n);
  for (const x of xs) cells[bins.filter((e) => x >= e).length]! += 1n;
  return [BigInt(xs.length), scaled.reduce((a, b) => a + b, 0n), scaled.reduce((a, b) => a + b * b, 0n), ...cells];
}

/** The whole reference: the example registry's CSV text through referenceCohort and referenceValues. */
export function referenceStatistics(csvPath: string, where: Condition[], column: string, decimals: number, bins: number[]): bigint[] {
  const { columns, rows } = referenceCohort(readFileSync(csvPath, 'utf8'), where);
  return referenceValues(columns, rows, column, decimals, bins);
}

/** The numeric values of `column` over `rows` (empty or unparseable cells left out, as analyse does). */
export function columnValues(columns: string[], rows: string[][], column: string): number[] {
  const at = columns.indexOf(column);
  return rows.map((r) => r[at]!).filter((t) => t.trim() !== '' && !Number.isNaN(Number(t))).map(Number);
}

/** Count, mean and sample variance (n − 1) of `xs`, in plain floating point. */
export function plainMoments(xs: number[]): { count: number; mean: number; variance: number } {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  return { count: xs.length, mean, variance: xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (xs.length - 1) };
}
