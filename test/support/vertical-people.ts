/**
 * Linked people for the vertical analyses' tests: what three sites hold about the same persons
 * after a link step (line k is the same person everywhere), reproducible from a seed, and the
 * ordinary least-squares fit on their plaintext join, for the tests to compare against.
 */
import type { OrgId } from '../../common/ids.ts';
import { mulberry32 } from '../../scripts/generate-example-data.ts';

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


/**
 * `n` linked people. With `distinctive`, every HbA1c is above 1,000 — a value no other column or
 * message holds, so a test can look for it in what the other sites opened.
 */
export function linkedFixture(n: number, seed: number, options: { distinctive?: boolean } = {}): LinkedPeople {
  const random = mulberry32(seed);
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

export { invert, olsFit } from '../../researcher/least-squares.ts';
