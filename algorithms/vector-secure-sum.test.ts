/**
 * Preprocess → analyse → secure sum of the statistics vector, through both protocol images, step
 * by step in real containers (the chain workflow does the same with envelopes in between).
 */
import { randomInt } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OrgId } from '../common/ids.ts';
import { removeRunVolumes } from '../activities/sandbox/run-volume.ts';
import { testDocker, testImages } from '../test/support/docker-images.ts';
import { runTestStep, scratchDir, type TestStepResult } from '../test/support/docker-sandbox.ts';
import { referenceCohort, referenceStatistics, registryPath, type Condition } from '../test/support/statistics-steps.ts';
import { decodeStatistics } from '../researcher/statistics.ts';

const MODULUS_BIG = (1n << 61n) - 1n;
const MODULUS = MODULUS_BIG.toString();
const ORGS: OrgId[] = ['stat-north', 'stat-east', 'stat-south', 'stat-west', 'stat-centre'];
const REGISTRIES = ['a', 'b', 'c', 'd', 'e'] as const;
const WHERE: Condition[] = [{ column: 'diagnosis', op: 'startsWith', value: 'E1' }];
const ANALYSIS = { column: 'lab_value', decimals: 1, bins: [5, 6.5, 8, 10] };
const SOURCE = { volume: 'statistics.json' };

let docker: Docker;
let images: { preprocess: string; analyse: string; ring: string; additive: string };
let scratch: Awaited<ReturnType<typeof scratchDir>>;
const runIds: string[] = [];

beforeAll(async () => {
  docker = testDocker();
  const built = await testImages(docker, { preprocess: 'preprocess', analyse: 'analyse', ring: 'secure-sum', additive: 'additive-sum' });
  images = { preprocess: built.preprocess.digest, analyse: built.analyse.digest, ring: built.ring.digest, additive: built.additive.digest };
  scratch = await scratchDir();
});

afterAll(async () => {
  for (const runId of runIds) for (const org of ORGS) await removeRunVolumes(docker, { runId, org });
  await scratch?.dispose();
});

function newRun(): string {
  const runId = `test-vector-sum-${randomInt(1e9)}`;
  runIds.push(runId);
  return runId;
}

function ok(result: TestStepResult): TestStepResult {
  expect(result.exitCode, result.logTail.join('\n')).toBe(0);
  return result;
}

interface Site {
  org: OrgId;
  csv: string;
}

/** Runs preprocess and analyse at each site, leaving statistics.json in its run volume. */
async function analyseAt(runId: string, sites: Site[], participants: OrgId[], options: { where?: Condition[]; analysis?: Record<string, unknown>; minRows?: number } = {}) {
  for (const { org, csv } of sites) {
    const common = { runId, org, participants, ...(options.minRows ? { minRows: options.minRows } : {}) };
    ok(await runTestStep(docker, scratch.dir, { ...common, image: images.preprocess, step: 'preprocess', args: { dataset: 'registry', where: options.where ?? WHERE }, datasets: { registry: csv } }));
    ok(await runTestStep(docker, scratch.dir, { ...common, image: images.analyse, step: 'analyse', args: options.analysis ?? ANALYSIS }));
  }
}

type Received = Array<{ from: OrgId; content: unknown }>;
const asInputs = (received: Received) => received.map((r, seq) => ({ from: r.from, step: 'earlier', seq, content: r.content }));

/** The ring over `orgs` (the first starts and finishes); returns the finishing step's result. */
async function ring(runId: string, orgs: OrgId[], args: Record<string, unknown> = { source: SOURCE }): Promise<TestStepResult> {
  const step = (org: OrgId, role: string, next?: OrgId, received: Received = []) =>
    runTestStep(docker, scratch.dir, { image: images.ring, runId, org, step: `ring-${role}-${org}`, participants: orgs, args: { role, modulus: MODULUS, ...(next ? { next } : {}), ...args }, inputs: asInputs(received) });
  let sent = ok(await step(orgs[0]!, 'start', orgs[1]!));
  for (let i = 1; i < orgs.length; i++) {
    const [message] = sent.messages;
    expect(message?.to).toBe(orgs[i]);
    // A masked partial: a list of residues, one per value.
    expect(Array.isArray((message!.content as { partial: unknown }).partial)).toBe(true);
    sent = await step(orgs[i]!, 'add', orgs[(i + 1) % orgs.length]!, [{ from: orgs[i - 1]!, content: message!.content }]);
    if (sent.exitCode !== 0) return sent;
  }
  return step(orgs[0]!, 'finish', undefined, [{ from: orgs[orgs.length - 1]!, content: sent.messages[0]!.content }]);
}

/** The additive protocol over `orgs` (the first aggregates); returns the combine step's result. */
async function additive(runId: string, orgs: OrgId[], args: Record<string, unknown> = { source: SOURCE }): Promise<TestStepResult> {
  const aggregator = orgs[0]!;
  const step = (org: OrgId, role: string, received: Received = []) =>
    runTestStep(docker, scratch.dir, { image: images.additive, runId, org, step: `additive-${role}-${org}`, participants: orgs, args: { role, modulus: MODULUS, aggregator, ...args }, inputs: asInputs(received) });
  const inbox = new Map<OrgId, Received>(orgs.map((o) => [o, []]));
  for (const org of orgs) {
    for (const m of ok(await step(org, 'share')).messages) inbox.get(m.to)!.push({ from: org, content: m.content });
  }
  const partials: Received = [];
  for (const org of orgs) {
    const summed = ok(await step(org, 'sum', inbox.get(org)!));
    for (const m of summed.messages) partials.push({ from: org, content: m.content });
  }
  return step(aggregator, 'combine', partials);
}

/** Σ over the sites of the reference values, element-wise, as decimal strings. */
function plainTotals(csvs: string[], where: Condition[] = WHERE): string[] {
  const perSite = csvs.map((csv) => referenceStatistics(csv, where, ANALYSIS.column, ANALYSIS.decimals, ANALYSIS.bins));
  return perSite[0]!.map((_, i) => perSite.reduce((sum, v) => sum + v[i]!, 0n).toString());
}

/** Mean and sample variance of the lab values of every site's cohort, in plain floating point. */
async function plainMoments(csvs: string[]): Promise<{ mean: number; variance: number; count: number }> {
  const xs: number[] = [];
  for (const csv of csvs) {
    const { columns, rows } = referenceCohort(await readFile(csv, 'utf8'), WHERE);
    const at = columns.indexOf('lab_value');
    for (const r of rows) if (r[at] !== '' && !Number.isNaN(Number(r[at]))) xs.push(Number(r[at]));
  }
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  return { mean, variance: xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (xs.length - 1), count: xs.length };
}

describe.each([3, 5])('the statistics vector through both secure sums, %i sites', (n) => {
  const orgs = ORGS.slice(0, n);
  const csvs = REGISTRIES.slice(0, n).map(registryPath);

  it('gives the plain element-wise sum of every site\'s values, with the layout, by ring and by additive shares', async () => {
    const runId = newRun();
    await analyseAt(runId, orgs.map((org, i) => ({ org, csv: csvs[i]! })), orgs);
    const expected = plainTotals(csvs);
    const layout = { kind: 'statistics', ...ANALYSIS };

    const byRing = ok(await ring(runId, orgs));
    expect(byRing.messages).toEqual([]);
    expect(byRing.output).toEqual({ totals: expected, layout });

    const byShares = ok(await additive(runId, orgs));
    expect(byShares.output).toEqual({ totals: expected, layout });

    const stats = decodeStatistics(byShares.output as { totals: string[]; layout: unknown }, MODULUS);
    const plain = await plainMoments(csvs);
    expect(stats.count).toBe(plain.count);
    expect(stats.mean).toBeCloseTo(plain.mean, 9);
    expect(stats.variance).toBeCloseTo(plain.variance, 9);
    expect(stats.histogram.reduce((a, c) => a + (c.count ?? 0), 0)).toBe(plain.count);
  }, 600_000);
});

describe('the vector secure sums', () => {
  async function signedCsv(org: OrgId, deltas: string[]): Promise<string> {
    const dir = join(scratch.dir, `${org}-${randomInt(1e9)}`);
    await mkdir(dir, { recursive: true });
    await chmod(dir, 0o755);
    const lines = ['patient_id,age,sex,diagnosis,lab_value', ...deltas.map((d, i) => `${org}-${i},50,F,E11.9,${d}`), ''];
    await writeFile(join(dir, 'registry.csv'), lines.join('\n'), { mode: 0o644 });
    return dir;
  }

  it('carries negative values as residues M + v, and they decode back to the plain statistics', async () => {
    const runId = newRun();
    const orgs = ORGS.slice(0, 3);
    const deltas = [['-2.5', '-0.7', '1.2'], ['-4.1', '-3.3'], ['0.4', '-1.0', '-6.6', '2.0']];
    const sites = await Promise.all(orgs.map(async (org, i) => ({ org, csv: await signedCsv(org, deltas[i]!) })));
    const analysis = { column: 'lab_value', decimals: 1, bins: [-3, 0] };
    await analyseAt(runId, sites, orgs, { where: [], analysis, minRows: 1 });
    const total = ok(await ring(runId, orgs));
    const { totals } = total.output as { totals: string[] };
    // Σ of the scaled values is negative: its residue is above M/2.
    expect(BigInt(totals[1]!)).toBeGreaterThan(MODULUS_BIG / 2n);
    const xs = deltas.flat().map(Number);
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    const stats = decodeStatistics(total.output as { totals: string[]; layout: unknown }, MODULUS);
    expect(stats.count).toBe(9);
    expect(stats.mean).toBeCloseTo(mean, 12);
    expect(stats.variance).toBeCloseTo(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / 8, 12);
    expect(stats.histogram.map((c) => c.count)).toEqual([3, 3, 3]);
  }, 300_000);

  it('fails clearly when the sites\' vectors differ in length, in either protocol', async () => {
    const runId = newRun();
    const orgs = ORGS.slice(0, 3);
    const [north, east] = orgs as [OrgId, OrgId];
    await analyseAt(runId, [{ org: north, csv: registryPath('a') }], orgs);
    await analyseAt(runId, [{ org: east, csv: registryPath('b') }], orgs, { analysis: { ...ANALYSIS, bins: [5, 8] } });
    const mismatch = /has 8 values but this site has 6: every site must produce the same layout/;

    const start = ok(await runTestStep(docker, scratch.dir, { image: images.ring, runId, org: north, step: 'ring-start', participants: orgs, args: { role: 'start', modulus: MODULUS, next: east, source: SOURCE } }));
    const add = await runTestStep(docker, scratch.dir, {
      image: images.ring, runId, org: east, step: 'ring-add', participants: orgs,
      args: { role: 'add', modulus: MODULUS, next: orgs[2], source: SOURCE },
      inputs: asInputs([{ from: north, content: start.messages[0]!.content }]),
    });
    expect(add.exitCode).toBe(1);
    expect(add.messages).toEqual([]);
    expect(add.logTail.join('\n')).toMatch(mismatch);

    const additiveArgs = { modulus: MODULUS, aggregator: north, source: SOURCE };
    const shared = ok(await runTestStep(docker, scratch.dir, { image: images.additive, runId, org: north, step: 'add-share', participants: orgs, args: { role: 'share', ...additiveArgs } }));
    ok(await runTestStep(docker, scratch.dir, { image: images.additive, runId, org: east, step: 'add-share', participants: orgs, args: { role: 'share', ...additiveArgs } }));
    const toEast = shared.messages.find((m) => m.to === east)!;
    const sum = await runTestStep(docker, scratch.dir, {
      image: images.additive, runId, org: east, step: 'add-sum', participants: orgs,
      args: { role: 'sum', ...additiveArgs },
      inputs: asInputs([{ from: north, content: toEast.content }]),
    });
    expect(sum.exitCode).toBe(1);
    expect(sum.messages).toEqual([]);
    expect(sum.logTail.join('\n')).toMatch(/The share from "stat-north" has 8 values but this site has 6/);
  }, 300_000);

  it('refuses a value whose magnitude is not below M/2, and a step given both a dataset and a source', async () => {
    const runId = newRun();
    const orgs = ORGS.slice(0, 3);
    await analyseAt(runId, [{ org: orgs[0]!, csv: registryPath('c') }], orgs);
    const share = (args: Record<string, unknown>) =>
      runTestStep(docker, scratch.dir, { image: images.additive, runId, org: orgs[0]!, step: 'add-share', participants: orgs, args: { role: 'share', aggregator: orgs[0], ...args } });
    // Σx² of a registry's lab values at one decimal is far above 10^6 / 2.
    const small = await share({ modulus: '1000003', source: SOURCE });
    expect(small.exitCode).toBe(1);
    expect(small.messages).toEqual([]);
    expect(small.logTail.join('\n')).toMatch(/Value 2 in statistics\.json is too large in magnitude for the modulus/);
    const both = await share({ modulus: MODULUS, source: SOURCE, dataset: 'registry' });
    expect(both.exitCode).toBe(1);
    expect(both.logTail.join('\n')).toMatch(/Give args\.dataset .* or args\.source .*, not both/);
    const missing = await share({ modulus: MODULUS, source: { volume: 'nothing.json' } });
    expect(missing.exitCode).toBe(1);
    expect(missing.logTail.join('\n')).toMatch(/There is no nothing\.json in the run volume: run the analysis step that writes it first/);
  }, 300_000);
});
