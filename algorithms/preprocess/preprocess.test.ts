import { randomInt } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OrgId } from '../../common/ids.ts';
import { removeRunVolumes } from '../../activities/sandbox/run-volume.ts';
import { testDocker, testImages } from '../../test/support/docker-images.ts';
import { runTestStep, scratchDir } from '../../test/support/docker-sandbox.ts';
import { readVolume, referenceCohort, registryPath, type Condition } from '../../test/support/statistics-steps.ts';

const ORG: OrgId = 'stat-pre-north';

let docker: Docker;
let preprocess: string;
let reader: string;
let scratch: Awaited<ReturnType<typeof scratchDir>>;
const runIds: string[] = [];

beforeAll(async () => {
  docker = testDocker();
  const images = await testImages(docker, { preprocess: 'preprocess', reader: 'test-fixtures/volume-reader' });
  preprocess = images.preprocess.digest;
  reader = images.reader.digest;
  scratch = await scratchDir();
});

afterAll(async () => {
  for (const runId of runIds) await removeRunVolumes(docker, { runId, org: ORG });
  await scratch?.dispose();
});

function newRun(): string {
  const runId = `test-preprocess-${randomInt(1e9)}`;
  runIds.push(runId);
  return runId;
}

interface Cohort {
  columns: string[];
  rows: string[][];
  counts: { read: number; malformed: number; filtered: number; kept: number };
}

/** A dataset directory (0755) holding `file` (0644) with `text`, as a site's datasets are. */
async function csvDataset(name: string, text: string, file = 'registry.csv'): Promise<string> {
  const dir = join(scratch.dir, `${name}-${randomInt(1e9)}`);
  await mkdir(dir, { recursive: true });
  await chmod(dir, 0o755);
  await writeFile(join(dir, file), text, { mode: 0o644 });
  return dir;
}

async function run(args: Record<string, unknown>, datasetPath: string, runId = newRun()) {
  const result = await runTestStep(docker, scratch.dir, { image: preprocess, runId, org: ORG, step: 'preprocess', participants: [ORG], args: { dataset: 'registry', ...args }, datasets: { registry: datasetPath } });
  return { result, runId };
}

async function cohortOf(runId: string): Promise<{ mode: string; cohort: Cohort } | null> {
  const files = await readVolume(docker, scratch.dir, reader, runId, ORG, ['cohort.json']);
  const file = files['cohort.json'];
  return file ? { mode: file.mode, cohort: JSON.parse(file.text) as Cohort } : null;
}

const SMALL = [
  'patient_id,age,sex,diagnosis,lab_value',
  'p1,34,F,E11.9,7.2',
  'p2,61,M,I10,5.4',
  'p3,abc,F,E11.9,8.0', // malformed: age
  'p4,45,M,"E11.65",n/a', // malformed: lab_value
  'p5,70,F', // malformed: too few fields
  'p6,,M,J45.9,6.1', // missing age: not malformed
  'p7,52,F,"J45,9",', // quoted comma; missing lab value
  'p8,80,M,E10.9,9.9',
  '',
].join('\n');

describe('preprocess', () => {
  it('keeps the example registry\'s rows matching the predicate, drops malformed ones and writes the cohort 0600', async () => {
    const where: Condition[] = [{ column: 'diagnosis', op: 'startsWith', value: 'E11' }, { column: 'age', op: '>=', value: 40 }];
    const { result, runId } = await run({ where }, registryPath('a'));
    expect(result.exitCode, result.logTail.join('\n')).toBe(0);
    // Sends nothing, outputs nothing, says nothing.
    expect(result.messages).toEqual([]);
    expect(result.output).toBeUndefined();
    const written = await cohortOf(runId);
    expect(written?.mode).toBe('600');
    const expected = referenceCohort(await readFile(registryPath('a'), 'utf8'), where);
    expect(written!.cohort.columns).toEqual(expected.columns);
    expect(written!.cohort.rows).toEqual(expected.rows);
    expect(written!.cohort.counts).toEqual({ read: 420, malformed: expected.malformed, filtered: expected.filtered, kept: expected.rows.length });
    expect(expected.malformed).toBeGreaterThan(0);
    expect(expected.rows.length).toBeGreaterThan(10);
  });

  it('reports the cohort\'s patient ids to the site worker for its release ledger, and nothing else', async () => {
    const { result } = await run({ where: [{ column: 'sex', op: '!=', value: 'F' }] }, await csvDataset('ids', SMALL));
    expect(result.exitCode, result.logTail.join('\n')).toBe(0);
    expect(result.cohorts).toEqual([{ dataset: 'registry', rows: ['p2', 'p6', 'p8'] }]);
    expect(result.messages).toEqual([]);
  });

  it('names rows by their position where the CSV has no patient_id column, so the ledger still sees the cohort', async () => {
    const noIds = SMALL.split('\n').map((line) => line.split(',').slice(1).join(',')).join('\n');
    const { result } = await run({ where: [{ column: 'sex', op: '!=', value: 'F' }] }, await csvDataset('no-ids', noIds));
    expect(result.exitCode, result.logTail.join('\n')).toBe(0);
    expect(result.cohorts).toEqual([{ dataset: 'registry', rows: ['#2', '#6', '#8'] }]);
  });

  it.each<[string, Condition, string[]]>([
    ['=', { column: 'diagnosis', op: '=', value: 'E11.9' }, ['p1']],
    ['= (number)', { column: 'lab_value', op: '=', value: 5.4 }, ['p2']],
    ['!=', { column: 'sex', op: '!=', value: 'F' }, ['p2', 'p6', 'p8']],
    ['<', { column: 'age', op: '<', value: 52 }, ['p1']],
    ['<=', { column: 'age', op: '<=', value: 52 }, ['p1', 'p7']],
    ['>', { column: 'lab_value', op: '>', value: 7.2 }, ['p8']],
    ['>=', { column: 'lab_value', op: '>=', value: 7.2 }, ['p1', 'p8']],
    ['in', { column: 'diagnosis', op: 'in', value: ['I10', 'J45,9', 'E10.9'] }, ['p2', 'p7', 'p8']],
    ['startsWith', { column: 'diagnosis', op: 'startsWith', value: 'J45' }, ['p6', 'p7']],
  ])('filters with %s, a missing cell satisfying nothing', async (_name, condition, ids) => {
    const { result, runId } = await run({ where: [condition] }, await csvDataset('small', SMALL));
    expect(result.exitCode, result.logTail.join('\n')).toBe(0);
    const { cohort } = (await cohortOf(runId))!;
    expect(cohort.rows.map((r) => r[0])).toEqual(ids);
    expect(cohort.counts).toEqual({ read: 8, malformed: 3, filtered: 5 - ids.length, kept: ids.length });
  });

  it('reads a dataset that is the CSV file itself, and a named file inside a directory', async () => {
    const asFile = join(await csvDataset('file', SMALL, 'only.csv'), 'only.csv');
    const one = await run({}, asFile);
    expect(one.result.exitCode, one.result.logTail.join('\n')).toBe(0);
    expect((await cohortOf(one.runId))!.cohort.counts).toEqual({ read: 8, malformed: 3, filtered: 0, kept: 5 });
    const named = await run({ file: 'other.csv' }, await csvDataset('named', SMALL, 'other.csv'));
    expect(named.result.exitCode, named.result.logTail.join('\n')).toBe(0);
    expect((await cohortOf(named.runId))!.cohort.rows.map((r) => r[0])).toEqual(['p1', 'p2', 'p6', 'p7', 'p8']);
  });

  it('parses CSV properly: CRLF line ends, quoted fields with commas, doubled quotes and line breaks, and a broken quote as malformed', async () => {
    const csv = [
      'patient_id,age,sex,diagnosis,lab_value',
      'q1,30,F,"E11.9, ""type 2""",7.0',
      '"q2",41,M,"I10',
      'essential",5.5',
      '',
      'q3,"52",F,J45.9,6.0',
      'q4,60,M,"E78"5,6.1', // text after a closing quote: malformed
      '',
    ].join('\r\n');
    const { result, runId } = await run({}, await csvDataset('quoted', csv));
    expect(result.exitCode, result.logTail.join('\n')).toBe(0);
    const { cohort } = (await cohortOf(runId))!;
    expect(cohort.rows).toEqual([
      ['q1', '30', 'F', 'E11.9, "type 2"', '7.0'],
      ['q2', '41', 'M', 'I10\r\nessential', '5.5'],
      ['q3', '52', 'F', 'J45.9', '6.0'],
    ]);
    expect(cohort.counts).toEqual({ read: 4, malformed: 1, filtered: 0, kept: 3 });
  });

  it('with malformed: "fail", stops at a malformed row without naming it or any value, and writes nothing', async () => {
    const { result, runId } = await run({ malformed: 'fail' }, await csvDataset('strict', SMALL));
    expect(result.exitCode).toBe(1);
    const log = result.logTail.join('\n');
    expect(log).toMatch(/has a malformed row \(a cell in column age that is not an integer\), and args\.malformed is "fail"/);
    expect(log).not.toMatch(/p3|abc/);
    expect(await cohortOf(runId)).toBeNull();
  });

  it.each<[string, Record<string, unknown>, RegExp]>([
    ['no dataset', { dataset: 7 }, /args\.dataset must name one of the site's datasets/],
    ['a bad op', { where: [{ column: 'age', op: '~', value: 1 }] }, /args\.where\[0\]\.op must be one of =, !=, <, <=, >, >=, in, startsWith/],
    ['in without a list', { where: [{ column: 'age', op: 'in', value: 3 }] }, /args\.where\[0\]\.value must be a non-empty list/],
    ['an unknown column', { where: [{ column: 'weight', op: '>', value: 3 }] }, /args\.where\[0\]\.column "weight" is not a column of the CSV \(its columns: patient_id, age, sex, diagnosis, lab_value\)/],
    ['a bad malformed', { malformed: 'keep' }, /args\.malformed must be "drop" .* or "fail"/],
    ['a missing file', { file: 'nope.csv' }, /The CSV \/data\/registry\/nope\.csv is missing or not readable/],
  ])('fails clearly on %s', async (_name, args, message) => {
    const { result, runId } = await run(args, await csvDataset('bad', SMALL));
    expect(result.exitCode).toBe(1);
    expect(result.logTail.join('\n')).toMatch(message);
    expect(await cohortOf(runId)).toBeNull();
  });
});
