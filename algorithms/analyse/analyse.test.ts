import { randomInt } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OrgId } from '../../common/ids.ts';
import { removeRunVolumes } from '../../activities/sandbox/run-volume.ts';
import { testDocker, testImages } from '../../test/support/docker-images.ts';
import { runTestStep, scratchDir } from '../../test/support/docker-sandbox.ts';
import { readVolume, referenceCohort, referenceStatistics, referenceValues, registryPath, type Condition } from '../../test/support/statistics-steps.ts';

const ORG: OrgId = 'stat-ana-east';

let docker: Docker;
let preprocess: string;
let analyse: string;
let reader: string;
let scratch: Awaited<ReturnType<typeof scratchDir>>;
const runIds: string[] = [];

beforeAll(async () => {
  docker = testDocker();
  const images = await testImages(docker, { preprocess: 'preprocess', analyse: 'analyse', reader: 'test-fixtures/volume-reader' });
  preprocess = images.preprocess.digest;
  analyse = images.analyse.digest;
  reader = images.reader.digest;
  scratch = await scratchDir();
});

afterAll(async () => {
  for (const runId of runIds) await removeRunVolumes(docker, { runId, org: ORG });
  await scratch?.dispose();
});

function newRun(): string {
  const runId = `test-analyse-${randomInt(1e9)}`;
  runIds.push(runId);
  return runId;
}

async function preprocessed(datasetPath: string, where: Condition[] = []): Promise<string> {
  const runId = newRun();
  const result = await runTestStep(docker, scratch.dir, { image: preprocess, runId, org: ORG, step: 'preprocess', participants: [ORG], args: { dataset: 'registry', where }, datasets: { registry: datasetPath } });
  expect(result.exitCode, result.logTail.join('\n')).toBe(0);
  return runId;
}

function analysed(runId: string, args: Record<string, unknown>, minRows?: number) {
  return runTestStep(docker, scratch.dir, { image: analyse, runId, org: ORG, step: 'analyse', participants: [ORG], args, ...(minRows !== undefined ? { minRows } : {}) });
}

async function statisticsOf(runId: string, file = 'statistics.json') {
  const read = (await readVolume(docker, scratch.dir, reader, runId, ORG, [file]))[file];
  return read ? { mode: read.mode, content: JSON.parse(read.text) as { layout: unknown; values: string[] } } : null;
}

async function csvFile(text: string): Promise<string> {
  const dir = join(scratch.dir, `csv-${randomInt(1e9)}`);
  await mkdir(dir, { recursive: true });
  await chmod(dir, 0o755);
  await writeFile(join(dir, 'registry.csv'), text, { mode: 0o644 });
  return dir;
}

describe('analyse', () => {
  it.each([0, 1, 2])('gives count, sum, sum of squares and histogram of the lab value exactly, at %i decimals', async (decimals) => {
    const where: Condition[] = [{ column: 'sex', op: '=', value: 'F' }];
    const runId = await preprocessed(registryPath('c'), where);
    const bins = [5, 6.5, 8, 10];
    const result = await analysed(runId, { column: 'lab_value', decimals, bins });
    expect(result.exitCode, result.logTail.join('\n')).toBe(0);
    expect(result.messages).toEqual([]);
    expect(result.output).toBeUndefined();
    const written = await statisticsOf(runId);
    expect(written?.mode).toBe('600');
    expect(written!.content.layout).toEqual({ kind: 'statistics', column: 'lab_value', decimals, bins });
    const expected = referenceStatistics(registryPath('c'), where, 'lab_value', decimals, bins);
    expect(written!.content.values).toEqual(expected.map(String));
    expect(expected[0]).toBeGreaterThan(100n);
  });

  it('rounds half away from zero, keeps negative values exact, and writes to the file args.values names', async () => {
    const csv = ['patient_id,age,sex,diagnosis,lab_value,delta', 'a,1,F,X,1,-2.25', 'b,2,M,X,1,2.25', 'c,3,F,X,1,-0.05', 'd,4,M,X,1,1e1', 'e,5,F,X,1,', 'f,6,M,X,1,oops', ''].join('\n');
    const runId = await preprocessed(await csvFile(csv));
    const result = await analysed(runId, { column: 'delta', decimals: 1, bins: [-1, 0, 1], values: 'delta.json' }, 3);
    expect(result.exitCode, result.logTail.join('\n')).toBe(0);
    // -2.25 → -23, 2.25 → 23, -0.05 → -1, 1e1 → 100; the empty and the unparseable cell are left out.
    const scaled = [-23n, 23n, -1n, 100n];
    expect((await statisticsOf(runId, 'delta.json'))!.content.values).toEqual(
      [4n, scaled.reduce((a, b) => a + b, 0n), scaled.reduce((a, b) => a + b * b, 0n), 1n, 1n, 0n, 2n].map(String),
    );
    expect(await statisticsOf(runId)).toBeNull();
  });

  it('with bounds, clips each value to them and sums it relative to their centre, as a private secure sum needs', async () => {
    const csv = ['patient_id,age,sex,diagnosis,lab_value', 'a,1,F,X,3.1', 'b,2,M,X,4.5', 'c,3,F,X,9.9', 'd,4,M,X,15.2', ''].join('\n');
    const runId = await preprocessed(await csvFile(csv));
    const result = await analysed(runId, { column: 'lab_value', decimals: 1, bins: [5, 10], bounds: [4, 14] }, 3);
    expect(result.exitCode, result.logTail.join('\n')).toBe(0);
    const written = (await statisticsOf(runId))!.content;
    expect(written.layout).toEqual({ kind: 'statistics', column: 'lab_value', decimals: 1, bins: [5, 10], bounds: [4, 14], center: '90' });
    // 3.1 → 40 (clipped), 4.5 → 45, 9.9 → 99, 15.2 → 140 (clipped); relative to 90: -50, -45, 9, 50.
    const centred = [-50n, -45n, 9n, 50n];
    // The histogram bins the value itself: 3.1 and 4.5 below 5, 9.9 in [5, 10), 15.2 above.
    expect(written.values).toEqual([4n, centred.reduce((a, b) => a + b, 0n), centred.reduce((a, b) => a + b * b, 0n), 2n, 1n, 1n].map(String));
  });

  it.each([
    ['one bound', [4]],
    ['bounds out of order', [14, 4]],
    ['a bound finer than the decimals', [4.25, 14]],
    ['a bound that is not a number', [4, '14']],
  ])('fails clearly on %s', async (_name, bounds) => {
    const runId = await preprocessed(registryPath('e'));
    const result = await analysed(runId, { column: 'lab_value', decimals: 1, bins: [5, 10], bounds });
    expect(result.exitCode).toBe(1);
    expect(result.logTail.join('\n')).toMatch(/args\.bounds must be \[lo, hi\]: two numbers with lo < hi and at most 1 decimal places/);
  });

  it('matches the reference over age, an integer column, at the site\'s own threshold', async () => {
    const runId = await preprocessed(registryPath('b'));
    const result = await analysed(runId, { column: 'age', decimals: 0, bins: [30, 45, 60, 75] }, 250);
    expect(result.exitCode, result.logTail.join('\n')).toBe(0);
    expect((await statisticsOf(runId))!.content.values).toEqual(referenceStatistics(registryPath('b'), [], 'age', 0, [30, 45, 60, 75]).map(String));
  });

  it('refuses a cohort below the site\'s disclosure threshold without saying its count, and releases nothing', async () => {
    const where: Condition[] = [{ column: 'diagnosis', op: '=', value: 'E10.9' }, { column: 'age', op: '>', value: 60 }];
    const runId = await preprocessed(registryPath('d'), where);
    const { columns, rows } = referenceCohort(await readFile(registryPath('d'), 'utf8'), where);
    const count = Number(referenceValues(columns, rows, 'lab_value', 1, [5, 8])[0]);
    expect(count).toBeGreaterThan(0);
    // A threshold just above the count, whose digits the count's do not contain (nor it theirs).
    let threshold = count + 1;
    while (String(threshold).includes(String(count)) || String(count).includes(String(threshold))) threshold++;
    // An earlier attempt's file must not survive a refusal either.
    const stale = await analysed(runId, { column: 'lab_value', decimals: 1, bins: [5, 8] }, 1);
    expect(stale.exitCode, stale.logTail.join('\n')).toBe(0);

    const result = await analysed(runId, { column: 'lab_value', decimals: 1, bins: [5, 8] }, threshold);
    expect(result.exitCode).toBe(1);
    const log = result.logTail.join('\n');
    expect(log).toContain(`This site's cohort has fewer rows than its disclosure threshold (${threshold}) allows; nothing was released.`);
    expect(log.replace(String(threshold), '')).not.toMatch(new RegExp(`\\b${count}\\b`));
    expect(result.messages).toEqual([]);
    expect(result.output).toBeUndefined();
    expect(await statisticsOf(runId)).toBeNull();
  });

  it('applies the default threshold of 10 when the site passes none', async () => {
    const csv = ['patient_id,age,sex,diagnosis,lab_value', ...Array.from({ length: 9 }, (_, i) => `p${i},40,F,I10,6.${i}`), ''].join('\n');
    const runId = await preprocessed(await csvFile(csv));
    const result = await analysed(runId, { column: 'lab_value', decimals: 1, bins: [5, 8] });
    expect(result.exitCode).toBe(1);
    expect(result.logTail.join('\n')).toMatch(/disclosure threshold \(10\)/);
  });

  it('says to run the preprocess step first when there is no cohort', async () => {
    const result = await analysed(newRun(), { column: 'lab_value', decimals: 1, bins: [5, 8] });
    expect(result.exitCode).toBe(1);
    expect(result.logTail.join('\n')).toMatch(/There is no cohort in the run volume: run the preprocess step first/);
  });

  it.each<[string, Record<string, unknown>, RegExp]>([
    ['no column', { decimals: 1, bins: [1, 2] }, /args\.column must name a column of the cohort/],
    ['an unknown column', { column: 'weight', decimals: 1, bins: [1, 2] }, /args\.column "weight" is not a column of the cohort \(its columns: patient_id, age, sex, diagnosis, lab_value\)/],
    ['decimals out of range', { column: 'age', decimals: 7, bins: [1, 2] }, /args\.decimals must be a whole number from 0 to 6/],
    ['one bin edge', { column: 'age', decimals: 0, bins: [1] }, /args\.bins must be a list of 2 to 1000 finite numbers/],
    ['edges out of order', { column: 'age', decimals: 0, bins: [1, 3, 3] }, /args\.bins must be strictly increasing/],
    ['a path as the values file', { column: 'age', decimals: 0, bins: [1, 2], values: '../x.json' }, /args\.values must be a file name for the run volume/],
  ])('fails clearly on %s', async (_name, args, message) => {
    const runId = await preprocessed(registryPath('e'));
    const result = await analysed(runId, args);
    expect(result.exitCode).toBe(1);
    expect(result.logTail.join('\n')).toMatch(message);
  });
});
