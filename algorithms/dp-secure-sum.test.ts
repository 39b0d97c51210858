/**
 * Differentially private secure sums, through both protocol images in real sandboxed containers:
 * each site adds its kept share of Skellam noise to its own values before they enter the sum, so
 * the released total is the exact total plus the sites' noise, and nothing else changes.
 * Each site's values come from the statistics-writer fixture (the layout the analysis step
 * writes with `bounds`), so the test knows the exact totals.
 */
import { randomInt } from 'node:crypto';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OrgId } from '../common/ids.ts';
import { calibrateSkellam } from '../common/privacy/rdp.ts';
import { removeRunVolumes } from '../activities/sandbox/run-volume.ts';
import { testDocker, testImages } from '../test/support/docker-images.ts';
import { countDataset, runTestStep, scratchDir, type TestStepResult } from '../test/support/docker-sandbox.ts';

const MODULUS_BIG = (1n << 61n) - 1n;
const MODULUS = MODULUS_BIG.toString();
const ORGS: OrgId[] = ['dp-north', 'dp-east', 'dp-south'];
const SOURCE = { volume: 'statistics.json' };
const TARGET = { epsilon: 1, delta: 1e-5 };
const PRIVACY = { ...TARGET, unitVariance: calibrateSkellam(TARGET) };
/** Lab values in [0, 20] at one decimal: scaled bounds 0 and 200, centre 100. */
const BINS = [5, 6.5, 8, 10];
const LAYOUT = { kind: 'statistics', column: 'lab_value', decimals: 1, bins: BINS, bounds: [0, 20], center: '100' };
/** Each site's lab values, already within the bounds. */
const LAB_VALUES: Record<OrgId, number[]> = {
  'dp-north': [4.2, 6.1, 7.7, 9.3, 12.5, 0, 20],
  'dp-east': [5.5, 5.9, 8.8, 11.1, 15.0],
  'dp-south': [3.3, 6.6, 7.1, 7.9, 10.0, 19.9],
};

let docker: Docker;
let images: { ring: string; additive: string; writer: string; reader: string };
let scratch: Awaited<ReturnType<typeof scratchDir>>;
const runIds: string[] = [];

beforeAll(async () => {
  docker = testDocker();
  const built = await testImages(docker, { ring: 'secure-sum', additive: 'additive-sum', writer: 'test-fixtures/statistics-writer', reader: 'test-fixtures/volume-reader' });
  images = { ring: built.ring.digest, additive: built.additive.digest, writer: built.writer.digest, reader: built.reader.digest };
  scratch = await scratchDir();
});

afterAll(async () => {
  for (const runId of runIds) for (const org of ORGS) await removeRunVolumes(docker, { runId, org });
  await scratch?.dispose();
});

function newRun(): string {
  const runId = `test-dp-sum-${randomInt(1e9)}`;
  runIds.push(runId);
  return runId;
}

function ok(result: TestStepResult): TestStepResult {
  expect(result.exitCode, result.logTail.join('\n')).toBe(0);
  return result;
}

/** [count, Σ(v − c), Σ(v − c)², cells…] of scaled values, as the analysis step writes them with bounds. */
function statistics(labValues: number[]): bigint[] {
  const scaled = labValues.map((x) => BigInt(Math.round(x * 10)));
  const center = 100n;
  const cells = new Array<bigint>(BINS.length + 1).fill(0n);
  for (const x of labValues) cells[BINS.filter((edge) => x >= edge).length]! += 1n;
  return [BigInt(scaled.length), scaled.reduce((a, v) => a + (v - center), 0n), scaled.reduce((a, v) => a + (v - center) ** 2n, 0n), ...cells];
}

/** Writes `{ layout, values }` into each site's run volume, as the analysis step would. */
async function writeValues(runId: string, values: Map<OrgId, bigint[]>, layout: unknown = LAYOUT) {
  for (const [org, vector] of values) {
    ok(await runTestStep(docker, scratch.dir, { image: images.writer, runId, org, step: 'analyse', participants: ORGS, args: { content: { layout, values: vector.map(String) } } }));
  }
}

/** The noise a site kept in its run volume (`dp-noise.<step>`, one of the steps that noise values): its mode and its noise. */
async function keptNoise(runId: string, org: OrgId): Promise<{ mode: string; noise: bigint[]; text: string } | null> {
  const files = ['ring-start', 'ring-add', 'additive-share'].map((step) => `dp-noise.${step}`);
  const read = ok(await runTestStep(docker, scratch.dir, { image: images.reader, runId, org, step: 'read', participants: ORGS, args: { files } }));
  const found = Object.values(read.output as Record<string, { mode: string; text: string } | null>).filter((f) => f !== null);
  if (found.length > 1) throw new Error(`${org} kept noise for more than one step`);
  const file = found[0] ?? null;
  if (!file) return null;
  return { mode: file.mode, text: file.text, noise: (JSON.parse(file.text) as { noise: string[] }).noise.map(BigInt) };
}

/** A residue read back as the signed integer it stands for (above M/2 is negative). */
const signed = (residue: string) => (BigInt(residue) > MODULUS_BIG / 2n ? BigInt(residue) - MODULUS_BIG : BigInt(residue));

type Received = Array<{ from: OrgId; content: unknown }>;
const asInputs = (received: Received) => received.map((r, seq) => ({ from: r.from, step: 'earlier', seq, content: r.content }));

function ringStep(runId: string, org: OrgId, role: string, args: Record<string, unknown>, next?: OrgId, received: Received = []) {
  return runTestStep(docker, scratch.dir, {
    image: images.ring, runId, org, step: `ring-${role}`, participants: ORGS,
    args: { role, modulus: MODULUS, ...(next ? { next } : {}), ...args },
    inputs: asInputs(received),
  });
}

/** The ring over ORGS (the first starts and finishes); returns the finishing step's result. */
async function ring(runId: string, args: Record<string, unknown>): Promise<TestStepResult> {
  let sent = ok(await ringStep(runId, ORGS[0]!, 'start', args, ORGS[1]!));
  for (let i = 1; i < ORGS.length; i++) {
    sent = ok(await ringStep(runId, ORGS[i]!, 'add', args, ORGS[(i + 1) % ORGS.length]!, [{ from: ORGS[i - 1]!, content: sent.messages[0]!.content }]));
  }
  return ringStep(runId, ORGS[0]!, 'finish', args, undefined, [{ from: ORGS[ORGS.length - 1]!, content: sent.messages[0]!.content }]);
}

function additiveStep(runId: string, org: OrgId, role: string, args: Record<string, unknown>, received: Received = []) {
  return runTestStep(docker, scratch.dir, {
    image: images.additive, runId, org, step: `additive-${role}`, participants: ORGS,
    args: { role, modulus: MODULUS, aggregator: ORGS[0], ...args },
    inputs: asInputs(received),
  });
}

/** The additive protocol over ORGS (the first aggregates); returns the combine step's result. */
async function additive(runId: string, args: Record<string, unknown>): Promise<TestStepResult> {
  const inbox = new Map<OrgId, Received>(ORGS.map((o) => [o, []]));
  for (const org of ORGS) for (const m of ok(await additiveStep(runId, org, 'share', args)).messages) inbox.get(m.to)!.push({ from: org, content: m.content });
  const partials: Received = [];
  for (const org of ORGS) for (const m of ok(await additiveStep(runId, org, 'sum', args, inbox.get(org)!)).messages) partials.push({ from: org, content: m.content });
  return additiveStep(runId, ORGS[0]!, 'combine', args, partials);
}

describe.each([
  ['ring', ring],
  ['additive shares', additive],
] as const)('a private secure sum by %s, over three sites', (_name, protocol) => {
  it('releases the exact totals plus the sites\' kept integer noise, within its stated variances, and says so in the output', async () => {
    const runId = newRun();
    const values = new Map(ORGS.map((org) => [org, statistics(LAB_VALUES[org]!)]));
    await writeValues(runId, values);
    const result = ok(await protocol(runId, { source: SOURCE, privacy: PRIVACY }));
    const { totals, layout, privacy } = result.output as { totals: string[]; layout: unknown; privacy: { mechanism: string; epsilon: number; delta: number; variances: string[] } };
    expect(layout).toEqual(LAYOUT);
    // G = 4 groups (count, sum, sum of squares, histogram), Δ = 1, B = 100, B² = 10^4, 1.
    const g = 4 * PRIVACY.unitVariance;
    expect(privacy).toMatchObject({ mechanism: 'skellam', epsilon: 1, delta: 1e-5 });
    const expected = [g, g * 1e4, g * 1e8, g, g, g, g, g];
    expect(privacy.variances).toHaveLength(expected.length);
    privacy.variances.forEach((v, i) => expect(Number(v) / expected[i]!).toBeCloseTo(1, 12));

    const exact = ORGS.map((org) => values.get(org)!).reduce((a, v) => a.map((x, i) => x + v[i]!));
    const noise = totals.map((t, i) => signed(t) - exact[i]!);
    const kept = await Promise.all(ORGS.map((org) => keptNoise(runId, org)));
    for (const k of kept) expect(k?.mode).toBe('600');
    // The released noise is exactly the sum of what each site drew and kept, coordinate by coordinate.
    expect(noise).toEqual(exact.map((_, i) => kept.reduce((a, k) => a + k!.noise[i]!, 0n)));
    // Noise of variance μ_j: beyond 10 standard deviations has probability below 10^-20.
    noise.forEach((n, i) => expect(Math.abs(Number(n))).toBeLessThan(10 * Math.sqrt(Number(privacy.variances[i]))));
    expect(noise.some((n) => n !== 0n)).toBe(true);
  }, 300_000);
});

describe('private secure sums', () => {
  it('reuse the kept noise on a retried step: the same ring message again, the same total behind fresh additive shares', async () => {
    const runId = newRun();
    const values = new Map(ORGS.map((org) => [org, statistics(LAB_VALUES[org]!)]));
    await writeValues(runId, values);
    const args = { source: SOURCE, privacy: PRIVACY };
    const [north, east, south] = ORGS as [OrgId, OrgId, OrgId];
    const start = ok(await ringStep(runId, north, 'start', args, east));
    const received = [{ from: north, content: start.messages[0]!.content }];
    const first = ok(await ringStep(runId, east, 'add', args, south, received));
    const drawn = await keptNoise(runId, east);
    const retried = ok(await ringStep(runId, east, 'add', args, south, received));
    expect(retried.messages).toEqual(first.messages);
    expect((await keptNoise(runId, east))?.text).toBe(drawn?.text);

    // Additive shares are drawn afresh on a retry, but they still add up to the same noisy values.
    const sharesAdd = async () => {
      const shared = ok(await additiveStep(runId, south, 'share', args));
      const read = ok(await runTestStep(docker, scratch.dir, { image: images.reader, runId, org: south, step: 'read', participants: ORGS, args: { files: ['additive-own-share'] } }));
      const own = (read.output as Record<string, { text: string }>)['additive-own-share']!.text.trimEnd().split('\n').map(BigInt);
      const sent = shared.messages.map((m) => (m.content as { share: string[] }).share.map(BigInt));
      return { shares: sent, total: own.map((x, i) => (x + sent.reduce((a, s) => a + s[i]!, 0n)) % MODULUS_BIG) };
    };
    const once = await sharesAdd();
    const twice = await sharesAdd();
    expect(twice.shares).not.toEqual(once.shares);
    expect(twice.total).toEqual(once.total);
    const southNoise = (await keptNoise(runId, south))!.noise;
    expect(once.total.map((t) => (t > MODULUS_BIG / 2n ? t - MODULUS_BIG : t))).toEqual(values.get(south)!.map((v, i) => v + southNoise[i]!));
  }, 300_000);

  it('draw fresh noise for a second release of the run, never the first one\'s: their difference would cancel it', async () => {
    const runId = newRun();
    await writeValues(runId, new Map([[ORGS[0]!, statistics(LAB_VALUES['dp-north']!)]]));
    const args = { source: SOURCE, privacy: PRIVACY };
    const first = ok(await ringStep(runId, ORGS[0]!, 'start', args, ORGS[1]!));
    const second = ok(await additiveStep(runId, ORGS[0]!, 'share', args));
    const read = ok(await runTestStep(docker, scratch.dir, { image: images.reader, runId, org: ORGS[0]!, step: 'read', participants: ORGS, args: { files: ['dp-noise.ring-start', 'dp-noise.additive-share'] } }));
    const kept = Object.values(read.output as Record<string, { text: string }>).map((f) => (JSON.parse(f.text) as { noise: string[] }).noise);
    expect(kept).toHaveLength(2);
    expect(kept[0]).not.toEqual(kept[1]);
    expect(first.messages).toHaveLength(1);
    expect(second.messages).toHaveLength(ORGS.length - 1);
  }, 300_000);

  it('refuse a layout without bounds, saying DP needs the analysis step\'s bounds, and draw nothing', async () => {
    const runId = newRun();
    const { bounds: _bounds, center: _center, ...unbounded } = LAYOUT;
    await writeValues(runId, new Map(ORGS.map((org) => [org, statistics(LAB_VALUES[org]!)])), unbounded);
    const args = { source: SOURCE, privacy: PRIVACY };
    for (const refused of [await ringStep(runId, ORGS[0]!, 'start', args, ORGS[1]!), await additiveStep(runId, ORGS[1]!, 'share', args)]) {
      expect(refused.exitCode).toBe(1);
      expect(refused.messages).toEqual([]);
      expect(refused.logTail.join('\n')).toMatch(/Differential privacy needs the analysis step's `bounds` arg/);
    }
    expect(await keptNoise(runId, ORGS[0]!)).toBeNull();
    expect(await keptNoise(runId, ORGS[1]!)).toBeNull();
  }, 300_000);

  it('refuse values not consistent with their declared bounds, never naming a value', async () => {
    const runId = newRun();
    const values = statistics(LAB_VALUES['dp-north']!);
    // A sum far beyond B · count: a value was not clipped to the bounds.
    const unclipped = [values[0]!, 987_654_321n, ...values.slice(2)];
    await writeValues(runId, new Map([[ORGS[0]!, unclipped]]));
    const refused = await ringStep(runId, ORGS[0]!, 'start', { source: SOURCE, privacy: PRIVACY }, ORGS[1]!);
    expect(refused.exitCode).toBe(1);
    expect(refused.messages).toEqual([]);
    const log = refused.logTail.join('\n');
    expect(log).toMatch(/not consistent with their declared bounds \(the sum is beyond the bounds times the count\)/);
    expect(log).not.toContain('987654321');
    expect(await keptNoise(runId, ORGS[0]!)).toBeNull();
  }, 300_000);

  it('refuse a modulus too small for the noise, before drawing any', async () => {
    const runId = newRun();
    await writeValues(runId, new Map([[ORGS[0]!, statistics(LAB_VALUES['dp-north']!)]]));
    // The values fit 10^6 + 3, but the sum of squares' noise (variance 4 λ B⁴ ≈ 7 · 10^9) does not.
    const refused = await ringStep(runId, ORGS[0]!, 'start', { source: SOURCE, privacy: PRIVACY, modulus: '1000003' }, ORGS[1]!);
    expect(refused.exitCode).toBe(1);
    expect(refused.messages).toEqual([]);
    expect(refused.logTail.join('\n')).toMatch(/The modulus is too small for the noise this release carries/);
    expect(await keptNoise(runId, ORGS[0]!)).toBeNull();
  }, 300_000);

  it('noise a dataset\'s count in a scalar run, with the count\'s one variance λ', async () => {
    const runId = newRun();
    const counts = [120n, 345n, 678n];
    const datasets = await Promise.all(ORGS.map((org, i) => countDataset(`${scratch.dir}/${runId}-${org}`, 'registry', `${counts[i]}\n`)));
    const args = { dataset: 'registry', privacy: PRIVACY };
    const step = (i: number, role: string, next?: OrgId, received: Received = []) =>
      runTestStep(docker, scratch.dir, {
        image: images.ring, runId, org: ORGS[i]!, step: `ring-${role}`, participants: ORGS,
        args: { role, modulus: MODULUS, ...(next ? { next } : {}), ...args },
        ...(role === 'finish' ? {} : { datasets: { registry: datasets[i]! } }),
        inputs: asInputs(received),
      });
    let sent = ok(await step(0, 'start', ORGS[1]!));
    sent = ok(await step(1, 'add', ORGS[2]!, [{ from: ORGS[0]!, content: sent.messages[0]!.content }]));
    sent = ok(await step(2, 'add', ORGS[0]!, [{ from: ORGS[1]!, content: sent.messages[0]!.content }]));
    const finished = ok(await step(0, 'finish', undefined, [{ from: ORGS[2]!, content: sent.messages[0]!.content }]));
    const { total, privacy } = finished.output as { total: string; privacy: { variances: string[] } };
    expect(privacy).toEqual({ mechanism: 'skellam', epsilon: 1, delta: 1e-5, variances: [String(PRIVACY.unitVariance)] });
    const kept = await Promise.all(ORGS.map((org) => keptNoise(runId, org)));
    expect(signed(total) - 1143n).toBe(kept.reduce((a, k) => a + k!.noise[0]!, 0n));
  }, 300_000);
});
