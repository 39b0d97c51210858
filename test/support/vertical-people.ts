/**
 * Linked people for the vertical analyses' tests: what three sites hold about the same persons
 * after a link step (line k is the same person everywhere), reproducible from a seed, and the
 * ordinary least-squares fit on their plaintext join, for the tests to compare against.
 */
import type { OrgId } from '../../common/ids.ts';

export interface LinkedPerson {
  age: number;
  sex: 'F' | 'M';
  diagnosis: 'T1D' | 'T2D' | 'none';
  hba1c: number;
  ldl: number;
  metformin: '0' | '1';
  statin: '0' | '1';
}

export interface LinkedPeople {
  rows: LinkedPerson[];
  /** Each site's rows.csv: hospital (age, sex, diagnosis), lab (hba1c, ldl), pharmacy (metformin, statin). */
  csv: Record<OrgId, string>;
}

/** mulberry32: a small seeded generator, so a failing test can be run again as it was. */
function generator(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * `n` linked people. With `distinctive`, every HbA1c is above 1,000 — a value no other column or
 * message holds, so a test can look for it in what the other sites opened.
 */
export function linkedFixture(n: number, seed: number, options: { distinctive?: boolean } = {}): LinkedPeople {
  const random = generator(seed);
  const rows: LinkedPerson[] = Array.from({ length: n }, () => {
    const age = 30 + Math.floor(random() * 60);
    const sex = random() < 0.5 ? 'F' : 'M';
    const u = random();
    const diagnosis = u < 0.1 ? 'T1D' : u < 0.5 ? 'T2D' : 'none';
    const metformin = diagnosis === 'T2D' && random() < 0.7 ? '1' : '0';
    const statin = random() < (age > 55 ? 0.6 : 0.25) ? '1' : '0';
    const base = 5 + 0.02 * age + (sex === 'M' ? 0.2 : 0) - 0.4 * Number(metformin) + 0.1 * Number(statin) + (diagnosis === 'none' ? 0 : 1.5) + (random() - 0.5);
    const hba1c = Math.round((base + (options.distinctive ? 1000 : 0)) * 10) / 10;
    const ldl = Math.round((3 + random() * 2) * 100) / 100;
    return { age, sex, diagnosis, hba1c, ldl, metformin, statin };
  });
  const csv = (header: string, line: (p: LinkedPerson) => string) => `${header}\n${rows.map(line).join('\n')}\n`;
  return {
    rows,
    csv: {
      hospital: csv('age,sex,diagnosis', (p) => `${p.age},${p.sex},${p.diagnosis}`),
      lab: csv('hba1c,ldl', (p) => `${p.hba1c.toFixed(1)},${p.ldl.toFixed(2)}`),
      pharmacy: csv('metformin,statin', (p) => `${p.metformin},${p.statin}`),
    },
  };
}

/** OLS by the normal equations in floating point: coefficients, standard errors and R². */
export function olsFit(x: number[][], y: number[]): { beta: number[]; se: number[]; r2: number } {
  const n = y.length;
  const p = x[0]!.length;
  const xtx = Array.from({ length: p }, (_, i) => Array.from({ length: p }, (__, j) => x.reduce((s, r) => s + r[i]! * r[j]!, 0)));
  const xty = Array.from({ length: p }, (_, i) => x.reduce((s, r, k) => s + r[i]! * y[k]!, 0));
  const inv = invert(xtx);
  const beta = inv.map((row) => row.reduce((s, v, j) => s + v * xty[j]!, 0));
  const fitted = x.map((r) => r.reduce((s, v, j) => s + v * beta[j]!, 0));
  const rss = y.reduce((s, v, k) => s + (v - fitted[k]!) ** 2, 0);
  const mean = y.reduce((a, b) => a + b, 0) / n;
  const tss = y.reduce((s, v) => s + (v - mean) ** 2, 0);
  const sigma2 = rss / (n - p);
  return { beta, se: inv.map((row, i) => Math.sqrt(sigma2 * row[i]!)), r2: 1 - rss / tss };
}

/** Gauss–Jordan inverse with partial pivoting. */
export function invert(a: number[][]): number[][] {
  const n = a.length;
  const m = a.map((row, i) => [...row, ...Array.from({ length: n }, (_, j) => (i === j ? 1 : 0))]);
  for (let c = 0; c < n; c++) {
    let pivot = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r]![c]!) > Math.abs(m[pivot]![c]!)) pivot = r;
    [m[c], m[pivot]] = [m[pivot]!, m[c]!];
    const d = m[c]![c]!;
    if (Math.abs(d) < 1e-12) throw new TypeError('The matrix is singular.');
    for (let k = 0; k < 2 * n; k++) m[c]![k]! /= d;
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = m[r]![c]!;
      if (f !== 0) for (let k = 0; k < 2 * n; k++) m[r]![k]! -= f * m[c]![k]!;
    }
  }
  return m.map((row) => row.slice(n));
}
