import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { EXAMPLE_DATA_DIR, HEADER, SITE_PLANS, mulberry32 } from './generate-example-data.ts';

const SCRIPT = fileURLToPath(new URL('./generate-example-data.ts', import.meta.url));
const scratch: string[] = [];

afterAll(async () => {
  for (const dir of scratch) await rm(dir, { recursive: true, force: true });
});

describe('generate-example-data', () => {
  it('regenerates exactly the committed example datasets', async () => {
    const out = await mkdtemp(join(tmpdir(), 'parley-example-data-'));
    scratch.push(out);
    await promisify(execFile)(process.execPath, ['--import', 'tsx', SCRIPT, '--out', out]);
    const written = (await readdir(out)).sort();
    expect(written).toEqual(SITE_PLANS.map((p) => p.file).sort());
    for (const file of written) {
      const fresh = await readFile(join(out, file));
      const committed = await readFile(join(EXAMPLE_DATA_DIR, file));
      expect(fresh.equals(committed), `${file} differs from the committed copy: rerun the script and commit`).toBe(true);
    }
  });

  it('writes registries of 300–600 rows with the expected header and a few defects each', async () => {
    for (const plan of SITE_PLANS) {
      const lines = (await readFile(join(EXAMPLE_DATA_DIR, plan.file), 'utf8')).trimEnd().split('\n');
      expect(lines[0]).toBe(HEADER);
      expect(lines.length - 1).toBe(plan.rows);
      expect(plan.rows).toBeGreaterThanOrEqual(300);
      expect(plan.rows).toBeLessThanOrEqual(600);
      const body = lines.slice(1);
      expect(body.some((l) => l.split(',').length !== 5), `${plan.file}: a short row`).toBe(true);
      expect(body.some((l) => l.includes('n/a') || l.split(',')[1] === 'abc'), `${plan.file}: an unparseable cell`).toBe(true);
      expect(body.some((l) => l.split(',').length === 5 && l.split(',').some((c) => c === '')), `${plan.file}: a missing cell`).toBe(true);
    }
  });

  it('mulberry32 is deterministic per seed and differs between seeds', () => {
    const a = mulberry32(42);
    const b = mulberry32(42);
    const c = mulberry32(43);
    const first = [a(), a(), a()];
    expect([b(), b(), b()]).toEqual(first);
    expect(c()).not.toBe(first[0]);
    for (const x of first) expect(x >= 0 && x < 1).toBe(true);
  });
});
