/**
 * The vertical analyses' protocol (common/vertical.ts, algorithms/vertical) run step by step in
 * real sandboxed containers, three sites, the messages routed as the plan says (what the chain
 * workflow does, without Temporal and envelopes: test/e2e covers those).
 *
 * The linked rows come from a test fixture (algorithms/test-fixtures/linked-rows) that copies an
 * already-linked CSV into each site's run volume under the link step's names, standing in for the
 * `link` step (private set intersection) until it is merged.
 */
import { createCipheriv, randomInt } from 'node:crypto';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OrgId } from '../../common/ids.ts';
import { VERTICAL_MODULUS, verticalArgs, verticalPlan, verticalSteps, type VerticalStep } from '../../common/vertical.ts';
import { removeRunVolumes } from '../../activities/sandbox/run-volume.ts';
import { controlRelease } from '../../activities/disclosure-control.ts';
import { testDocker, testImages } from '../../test/support/docker-images.ts';
import { runTestStep, scratchDir } from '../../test/support/docker-sandbox.ts';
import { linkedFixture, olsFit, type LinkedPeople } from '../../test/support/vertical-people.ts';
import { decodeVerticalResult } from '../../researcher/vertical.ts';

const SITES: OrgId[] = ['hospital', 'lab', 'pharmacy'];
const M = BigInt(VERTICAL_MODULUS);

let docker: Docker;
let vertical: string;
let linkedRows: string;
let scratch: Awaited<ReturnType<typeof scratchDir>>;
const runIds: string[] = [];

beforeAll(async () => {
  docker = testDocker();
  const images = await testImages(docker, { vertical: 'vertical', linked: 'test-fixtures/linked-rows' });
  vertical = images.vertical.digest;
  linkedRows = images.linked.digest;
  scratch = await scratchDir();
}, 600_000);

afterAll(async () => {
  for (const runId of runIds) for (const org of SITES) await removeRunVolumes(docker, { runId, org });
  await scratch?.dispose();
});

const step = (id: string, analysis: Partial<VerticalStep>): VerticalStep => ({
  kind: 'vertical', id, linked: 'link', image: { name: 'parley/vertical', digest: 'sha256:x' }, modulus: VERTICAL_MODULUS, after: ['link'], ...analysis,
});

interface Sent { step: string; from: OrgId; to: OrgId; content: unknown }

/** Puts `people` in every site's run volume (the fixture), then runs the plan's steps in order. */
async function runVertical(people: LinkedPeople, spec: VerticalStep) {
  const runId = `test-vertical-${randomInt(1e9)}`;
  runIds.push(runId);
  for (const org of SITES) {
    const dir = join(scratch.dir, runId, org, 'linked');
    await mkdir(dir, { recursive: true });
    await chmod(dir, 0o755);
    await writeFile(join(dir, 'rows.csv'), people.csv[org]!, { mode: 0o644 });
    const r = await runTestStep(docker, scratch.dir, { image: linkedRows, runId, org, step: 'link', participants: SITES, args: { dataset: 'linked', linked: 'link' }, datasets: { linked: dir } });
    expect(r.exitCode, r.logTail.join('\n')).toBe(0);
  }
  const plan = verticalPlan(spec, SITES);
  const common = verticalArgs(spec, plan);
  const sent: Sent[] = [];
  /** What each site opened, as its inputs: the messages to scan. */
  const opened = new Map<OrgId, unknown[]>(SITES.map((o) => [o, []]));
  let output: unknown;
  const steps = verticalSteps(spec.id, plan, SITES);
  for (const index of [...new Set(steps.map((s) => s.index))]) {
    const now = steps.filter((s) => s.index === index);
    const results = await Promise.all(now.map(async (s) => {
      const inputs = s.inputs.flatMap((i) => sent.filter((m) => m.step === i.fromStep && m.from === i.from && m.to === s.org))
        .map((m, seq) => ({ from: m.from, step: m.step, seq, content: m.content }));
      opened.get(s.org)!.push(...inputs.map((i) => i.content));
      const r = await runTestStep(docker, scratch.dir, {
        image: vertical, runId, org: s.org, step: s.step, participants: SITES, args: { role: s.role, ...common }, inputs, allowedRecipients: s.sendTo, maxMessageBytes: 64 * 1024 * 1024,
      });
      expect(r.exitCode, `${s.step} at ${s.org}: ${r.logTail.join('\n')}`).toBe(0);
      return { s, r };
    }));
    for (const { s, r } of results) {
      for (const m of r.messages) sent.push({ step: s.step, from: s.org, to: m.to, content: m.content });
      if (r.output !== undefined) output = r.output;
    }
  }
  return { output, sent, opened, plan };
}

/** A packed vector of residues (8 bytes each, big-endian, base64), as the image sends them. */
function unpack(packed: string): bigint[] {
  const buffer = Buffer.from(packed, 'base64');
  return Array.from({ length: buffer.length / 8 }, (_, i) => buffer.readBigUInt64BE(i * 8));
}

/** Every number a message holds: each packed vector's residues in decimal, and every other token. */
function tokens(content: unknown): string[] {
  const out: string[] = [];
  const walk = (v: unknown, key?: string): void => {
    if (typeof v === 'string') {
      if (key === 'seed') out.push(v);
      else out.push(...unpack(v).map(String));
    } else if (Array.isArray(v)) v.forEach((x) => walk(x));
    else if (typeof v === 'object' && v !== null) Object.entries(v).forEach(([k, x]) => walk(x, k));
    else out.push(String(v));
  };
  walk(content);
  return out;
}

describe('vertical analyses over linked rows', () => {
  it('computes the crosstab of a hospital column against a pharmacy column, equal to the plaintext join, with the lab as dealer', async () => {
    const people = linkedFixture(240, 1);
    const { output } = await runVertical(people, step('table', {
      crosstab: { rows: { at: 'hospital', column: 'diagnosis', levels: ['T1D', 'T2D', 'none'] }, columns: { at: 'pharmacy', column: 'statin', levels: ['0', '1'] } },
    }));
    const result = decodeVerticalResult(output as never);
    if (result.kind !== 'crosstab') throw new Error('not a crosstab');
    const expected = ['T1D', 'T2D', 'none'].map((d) => ['0', '1'].map((s) => people.rows.filter((p) => p.diagnosis === d && p.statin === s).length));
    expect(result.cells).toEqual(expected);
  }, 120_000);

  it('computes count, mean and variance of HbA1c among statin users aged 60+ in two rounds, equal to the plaintext join', async () => {
    const people = linkedFixture(300, 2);
    const { output, plan } = await runVertical(people, step('cohort', {
      summary: { value: { at: 'lab', column: 'hba1c', decimals: 1 }, where: [{ at: 'pharmacy', column: 'statin', equals: '1' }, { at: 'hospital', column: 'age', atLeast: 60 }] },
    }));
    expect(plan.rounds).toBe(2);
    const result = decodeVerticalResult(output as never);
    if (result.kind !== 'summary') throw new Error('not a summary');
    const cohort = people.rows.filter((p) => p.statin === '1' && p.age >= 60).map((p) => p.hba1c);
    const mean = cohort.reduce((a, b) => a + b, 0) / cohort.length;
    const variance = cohort.reduce((a, b) => a + (b - mean) ** 2, 0) / (cohort.length - 1);
    expect(result.count).toBe(cohort.length);
    expect(result.mean).toBeCloseTo(mean, 9);
    expect(result.variance).toBeCloseTo(variance, 9);
  }, 180_000);

  it('gives the normal equations of HbA1c ~ age + sex + metformin + statin: the fit equals OLS on the plaintext join to 1e-6, and no site receives another\'s column unmasked', async () => {
    const people = linkedFixture(400, 3, { distinctive: true });
    const { output, opened, sent } = await runVertical(people, step('regression', {
      regression: {
        outcome: { at: 'lab', column: 'hba1c', decimals: 1 },
        features: [{ at: 'hospital', column: 'age' }, { at: 'hospital', column: 'sex', equals: 'M' }, { at: 'pharmacy', column: 'metformin' }, { at: 'pharmacy', column: 'statin' }],
      },
    }));
    const result = decodeVerticalResult(output as never);
    if (result.kind !== 'regression') throw new Error('not a regression');
    const ols = olsFit(people.rows.map((p) => [1, p.age, p.sex === 'M' ? 1 : 0, Number(p.metformin), Number(p.statin)]), people.rows.map((p) => p.hba1c));
    result.coefficients.forEach((b, i) => expect(Math.abs(b - ols.beta[i]!)).toBeLessThan(1e-6));
    result.standardErrors.forEach((se, i) => expect(Math.abs(se - ols.se[i]!)).toBeLessThan(1e-6));
    expect(Math.abs(result.r2 - ols.r2)).toBeLessThan(1e-6);

    // The lab's HbA1c values are distinctive (1,000,001.x and up): none of them, raw or in fixed
    // point, is in anything the hospital or the pharmacy opened; their own columns likewise.
    const labValues = new Set(people.rows.flatMap((p) => [String(p.hba1c), String(Math.round(p.hba1c * 10)), String(Math.round(p.hba1c * 10) * 10)]));
    const ages = new Set(people.rows.map((p) => String(p.age * 10)));
    for (const org of ['hospital', 'pharmacy'] as const) {
      const seen = opened.get(org)!.flatMap(tokens);
      expect(seen.length).toBeGreaterThan(people.rows.length);
      expect(seen.filter((t) => labValues.has(t))).toEqual([]);
    }
    expect(opened.get('lab')!.flatMap(tokens).filter((t) => ages.has(t))).toEqual([]);
    // The dealer (pharmacy, for hospital × lab) received nothing of that product.
    expect(sent.filter((m) => m.to === 'pharmacy' && JSON.stringify(m.content).includes('"hospital.lab"'))).toEqual([]);
  }, 180_000);

  it('breaks only under the collusion the threat model names: the dealer\'s seed with the hospital\'s masked input gives the lab\'s column; the hospital alone cannot', async () => {
    const people = linkedFixture(200, 4, { distinctive: true });
    const { sent } = await runVertical(people, step('regression', {
      regression: { outcome: { at: 'lab', column: 'hba1c', decimals: 1 }, features: [{ at: 'hospital', column: 'age' }] },
    }));
    // hospital × lab, dealt by the pharmacy. The lab's masked matrix, as the hospital received it:
    const masked = unpack((sent.find((m) => m.to === 'hospital' && m.from === 'lab' && m.step.endsWith('.mask'))!.content as { products: Record<string, string> }).products['hospital.lab']!);
    const y = people.rows.map((p) => BigInt(Math.round(p.hba1c * 10)));
    const labTerms = 2; // intercept and outcome sit at the lab
    const outcomeOf = (m: bigint[]) => m.filter((_, i) => i % labTerms === 1);
    // The dealer kept the lab's seed (it drew it): with the hospital's message, the column falls out.
    const labSeed = (sent.find((m) => m.from === 'pharmacy' && m.to === 'lab')!.content as { products: Record<string, { seed: string }> }).products['hospital.lab']!.seed;
    const colluded = outcomeOf(masked.map((v, i) => (v - expand(labSeed, 'mask', masked.length)[i]! + M) % M));
    expect(colluded).toEqual(y);
    // The hospital alone has only its own seed: removing it leaves noise, not the column.
    const ownSeed = (sent.find((m) => m.from === 'pharmacy' && m.to === 'hospital')!.content as { products: Record<string, { seed: string }> }).products['hospital.lab']!.seed;
    const alone = outcomeOf(masked.map((v, i) => (v - expand(ownSeed, 'mask', masked.length)[i]! + M) % M));
    expect(alone.filter((v, i) => v === y[i])).toEqual([]);
  }, 180_000);

  it('refuses a cohort of fewer linked rows than the disclosure threshold at the aggregator\'s release', async () => {
    const people = linkedFixture(40, 5);
    const { output } = await runVertical(people, step('cohort', {
      summary: { value: { at: 'lab', column: 'hba1c', decimals: 1 }, where: [{ at: 'pharmacy', column: 'statin', equals: '1' }, { at: 'hospital', column: 'age', atLeast: 75 }] },
    }));
    const count = people.rows.filter((p) => p.statin === '1' && p.age >= 75).length;
    expect(count).toBeLessThan(10);
    expect(() => controlRelease(output, { runId: 'r', step: 'cohort.vertical.4.release', org: 'hospital', threshold: 10, modulus: VERTICAL_MODULUS }))
      .toThrow(expect.objectContaining({ code: 'ERR_DISCLOSURE_THRESHOLD' }));
  }, 180_000);
});

/** The image's seed expansion (algorithms/vertical/main.js), for the collusion test. */
function expand(seedHex: string, label: string, count: number): bigint[] {
  const width = Math.ceil(M.toString(16).length / 2) + 8;
  const iv = Buffer.alloc(16);
  iv.write(label.padEnd(16, '\0').slice(0, 16), 'latin1');
  const stream = createCipheriv('aes-256-ctr', Buffer.from(seedHex, 'hex'), iv).update(Buffer.alloc(width * count));
  return Array.from({ length: count }, (_, i) => BigInt(`0x${stream.toString('hex', i * width, (i + 1) * width)}`) % M);
}
