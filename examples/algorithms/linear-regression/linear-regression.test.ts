/**
 * The example Python algorithm (numpy) in its chain, over the demo's registries: each site's
 * normal equations, added by a secure sum and solved by the researcher, give the same fit as
 * least squares on the pooled rows computed here from the registries' CSVs.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, inject, it } from 'vitest';
import { DEFAULT_MODULUS } from '../../../chains/index.ts';
import { solveNormalEquations, type RegressionFit } from '../../../researcher/normal-equations.ts';
import { registryPath } from '../../../test/support/statistics-steps.ts';
import { lastJsonLine, parley, parleyProcess } from '../../../test/support/parley-cli.ts';

const ALGORITHM_DIR = fileURLToPath(new URL('.', import.meta.url));
const CHAIN_FILE = fileURLToPath(new URL('../../chains/linear-regression.yaml', import.meta.url));

/** A complete-case design row (intercept, age, sex=M) and outcome, as main.py reads a CSV row. */
function designRows(csv: string): Array<{ x: number[]; y: number }> {
  const [header, ...lines] = csv.split(/\r?\n/).filter((l) => l !== '');
  const at = Object.fromEntries(header!.split(',').map((c, i) => [c, i]));
  const number = (cell: string | undefined) => (cell === undefined || cell.trim() === '' ? NaN : Number(cell));
  return lines.flatMap((line) => {
    const cells = line.split(',');
    const age = number(cells[at.age!]);
    const y = number(cells[at.lab_value!]);
    if (!Number.isFinite(age) || !Number.isFinite(y)) return [];
    return [{ x: [1, age, (cells[at.sex!] ?? '').trim() === 'M' ? 1 : 0], y }];
  });
}

/** Ordinary least squares on the pooled rows, by Cramer's rule on the 3 × 3 normal equations. */
function pooledLeastSquares(rows: Array<{ x: number[]; y: number }>): number[] {
  const a = [0, 1, 2].map((i) => [0, 1, 2].map((j) => rows.reduce((s, r) => s + r.x[i]! * r.x[j]!, 0)));
  const b = [0, 1, 2].map((i) => rows.reduce((s, r) => s + r.x[i]! * r.y, 0));
  const det = (m: number[][]) =>
    m[0]![0]! * (m[1]![1]! * m[2]![2]! - m[1]![2]! * m[2]![1]!) - m[0]![1]! * (m[1]![0]! * m[2]![2]! - m[1]![2]! * m[2]![0]!) + m[0]![2]! * (m[1]![0]! * m[2]![1]! - m[1]![1]! * m[2]![0]!);
  const d = det(a);
  return [0, 1, 2].map((k) => det(a.map((row, i) => row.map((v, j) => (j === k ? b[i]! : v)))) / d);
}

describe('examples/algorithms/linear-regression', () => {
  it('fits lab value on age and sex across three registries as least squares on their pooled rows does', async () => {
    const built = await parley(['algorithm', 'build', ALGORITHM_DIR, '--json']);
    expect(built.code, built.stderr).toBe(0);
    const validated = await parley(['chain', 'validate', CHAIN_FILE]);
    expect(validated.code, validated.stderr).toBe(0);

    const ran = await parleyProcess(['demo', '--chain', CHAIN_FILE, '--json'], { env: { ...process.env, TEMPORAL_ADDRESS: inject('temporalAddress') } });
    expect(ran.code, ran.stderr).toBe(0);
    const { outputs } = lastJsonLine<{ outputs: Array<{ step: string; kind: string; regression: RegressionFit; content: { totals: string[]; layout: unknown } }> }>(ran.stdout);
    expect(outputs.map((o) => [o.step, o.kind])).toEqual([['total', 'regression']]);
    // What the demo printed is the researcher's own solve of the opened total.
    const fit = solveNormalEquations(outputs[0]!.content, DEFAULT_MODULUS);
    expect(outputs[0]!.regression).toEqual(fit);

    const pooled = (await Promise.all((['a', 'b', 'c'] as const).map(async (l) => designRows(await readFile(registryPath(l), 'utf8'))))).flat();
    const beta = pooledLeastSquares(pooled);
    expect(fit.n).toBe(pooled.length);
    expect(Object.keys(fit.coefficients)).toEqual(['intercept', 'age', 'sex=M']);
    // Fixed point at 6 decimals: each site rounds each value by at most 5e-7.
    expect(fit.coefficients.intercept).toBeCloseTo(beta[0]!, 6);
    expect(fit.coefficients.age).toBeCloseTo(beta[1]!, 6);
    expect(fit.coefficients['sex=M']).toBeCloseTo(beta[2]!, 6);
  }, 600_000);
});
