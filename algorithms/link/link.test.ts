import { randomInt } from 'node:crypto';
import { chmod, copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OrgId } from '../../common/ids.ts';
import { removeRunVolumes } from '../../activities/sandbox/run-volume.ts';
import { SOURCES, VERTICAL_DATA_DIR, joinedTruth, validRows, type Source } from '../../examples/data/vertical/generate.ts';
import { testDocker, testImages } from '../../test/support/docker-images.ts';
import { runTestStep, scratchDir, type TestStepResult } from '../../test/support/docker-sandbox.ts';
import { runLink, type LinkSource } from '../../test/support/link-run.ts';
import { blind, hashToCurve, unpackPoints } from './psi.js';
import { readFileSync } from 'node:fs';

const SITES: Record<Source, OrgId> = { hospital: 'hospital', lab: 'lab', pharmacy: 'pharmacy' };
const ORGS = SOURCES.map((s) => SITES[s]);
const texts = Object.fromEntries(SOURCES.map((s) => [s, readFileSync(join(VERTICAL_DATA_DIR, `${s}.csv`), 'utf8')])) as Record<Source, string>;

let docker: Docker;
let link: string;
let reader: string;
let scratch: Awaited<ReturnType<typeof scratchDir>>;
const runIds: string[] = [];

beforeAll(async () => {
  docker = testDocker();
  const images = await testImages(docker, { link: 'link', reader: 'test-fixtures/volume-reader' });
  link = images.link.digest;
  reader = images.reader.digest;
  scratch = await scratchDir();
});

afterAll(async () => {
  for (const runId of runIds) for (const org of ORGS) await removeRunVolumes(docker, { runId, org });
  await scratch?.dispose();
});

function newRun(): string {
  const runId = `test-link-${randomInt(1e9)}`;
  runIds.push(runId);
  return runId;
}

/** Each source's CSV as a dataset directory the sandbox user can read. */
async function datasets(runId: string, override: Partial<Record<Source, string>> = {}): Promise<LinkSource[]> {
  return Promise.all(SOURCES.map(async (source) => {
    const dir = join(scratch.dir, runId, source);
    await mkdir(dir, { recursive: true });
    await chmod(join(scratch.dir, runId), 0o755);
    await chmod(dir, 0o755);
    const file = join(dir, `${source}.csv`);
    if (override[source] !== undefined) await writeFile(file, override[source]);
    else await copyFile(join(VERTICAL_DATA_DIR, `${source}.csv`), file);
    await chmod(file, 0o644);
    return { org: SITES[source], dataset: dir, datasetName: source };
  }));
}

async function volume(runId: string, org: OrgId, files: string[]): Promise<Record<string, { mode: string; text: string } | null>> {
  const read = await runTestStep(docker, scratch.dir, { image: reader, runId, org, step: 'read', participants: ORGS, args: { files } });
  expect(read.exitCode, read.logTail.join('\n')).toBe(0);
  return read.output as Record<string, { mode: string; text: string } | null>;
}

const LINK_FILES = ['linked.rows.csv', 'linked.json', 'linked.psi-key', 'linked.psi-order.json', 'linked.psi-reorder.json'];

describe('link (multi-party DH PSI)', () => {
  let runId: string;
  let results: Map<string, TestStepResult>;
  const reruns: Array<{ step: string; same: boolean }> = [];

  beforeAll(async () => {
    runId = newRun();
    const run = await runLink({
      docker, scratch: scratch.dir, image: link, runId, link: 'linked', identifier: 'patient_id', sources: await datasets(runId),
      // Every call twice, as Temporal retries a step whose worker was lost: same messages each time.
      onCall: async (call, go) => {
        const first = await go();
        if (first.exitCode !== 0) return first;
        const again = await go();
        reruns.push({ step: `${call.step}@${call.org}`, same: JSON.stringify(again.messages) === JSON.stringify(first.messages) });
        return again;
      },
    });
    if (run.failed) throw new Error(`${run.failed.call.step} at ${run.failed.call.org} failed: ${run.failed.result.logTail.join('\n')}`);
    results = run.results;
  }, 600_000);

  it('leaves at every site the intersection\'s rows in one common order: line k is the same person everywhere, as the ground truth joins them', async () => {
    const truth = joinedTruth(texts);
    const linked: Record<string, string[]> = {};
    for (const source of SOURCES) {
      const files = await volume(runId, SITES[source], ['linked.rows.csv', 'linked.json']);
      const header = texts[source].split('\n')[0]!.split(',').slice(1);
      expect(files['linked.rows.csv']!.mode).toBe('600');
      const lines = files['linked.rows.csv']!.text.trimEnd().split('\n');
      expect(lines[0]).toBe(header.join(','));
      linked[source] = lines.slice(1);
      expect(JSON.parse(files['linked.json']!.text)).toEqual({ rows: truth.length, dataset: source, columns: header });
    }
    // The people, joined line by line across the sites, are exactly the ground truth's people.
    const joined = linked.hospital!.map((_, k) => SOURCES.map((s) => linked[s]![k]).join('|')).sort();
    const expected = truth.map((t) => SOURCES.map((s) => t.cells[s]!.join(',')).join('|')).sort();
    expect(joined).toHaveLength(truth.length);
    expect(joined).toEqual(expected);
  });

  it('gives the same messages when any step is run again (keys and shuffles kept in the run volume)', () => {
    expect(reruns.length).toBe(results.size);
    expect(reruns.filter((r) => !r.same)).toEqual([]);
  });

  it('sends no identifier and no hash of one, and keeps none in any run volume', async () => {
    const ids = SOURCES.flatMap((s) => [...validRows(texts[s]).keys()]);
    const hashes = new Set(hashToCurve(ids.map((id) => Buffer.from(id))).map((p) => p.toString('hex')));
    const sent = [...results.values()].flatMap((r) => r.messages);
    const text = JSON.stringify(sent);
    for (const id of ids.slice(0, 500)) expect(text.includes(id)).toBe(false);
    for (const message of sent) {
      const points = unpackPoints((message.content as { points?: string }).points ?? '') ?? [];
      for (const p of points) expect(hashes.has(p.toString('hex'))).toBe(false);
    }
    for (const org of ORGS) {
      const files = await volume(runId, org, LINK_FILES);
      const kept = Object.values(files).map((f) => f?.text ?? '').join('\n');
      for (const id of ids) if (kept.includes(id)) throw new Error(`identifier found in ${org}'s run volume`);
      for (const f of Object.values(files)) if (f) expect(f.mode).toBe('600');
    }
  });

  it('attack: an intermediate site never holds two lists in one blinding space, so it learns no pairwise overlap', () => {
    // Lab's round 1 holds pharmacy's list (pharmacy's key) and hospital's (hospital's key): the
    // ~2,600 people both have stay apart even after lab's own key.
    for (const [key, result] of results) {
      if (!key.includes('.pass@')) continue;
      const lists = result.messages.map((m) => new Set((unpackPoints((m.content as { points: string }).points) ?? []).map((p) => p.toString('hex'))));
      for (let i = 0; i < lists.length; i++) {
        for (let j = i + 1; j < lists.length; j++) expect([...lists[i]!].filter((v) => lists[j]!.has(v))).toEqual([]);
      }
    }
    expect([...results.keys()].some((k) => k.startsWith('linked.link.1.pass@lab'))).toBe(true);
  });

  it('attack: the comparer cannot find its own rows among the fully blinded values, even with its own key', async () => {
    const c = SITES.hospital;
    const { 'linked.psi-key': key } = await volume(runId, c, ['linked.psi-key']);
    expect(key).not.toBeNull();
    // What C holds in F-space: its own list as pharmacy shuffled and sent it.
    const fromLast = results.get(`linked.link.2.pass@${SITES.pharmacy}`)!.messages.find((m) => m.to === c)!;
    const own = new Set((unpackPoints((fromLast.content as { points: string }).points) ?? []).map((p) => p.toString('hex')));
    // C's best guess at its own values: its identifiers, hashed, under its own key.
    const ids = [...validRows(texts.hospital).keys()];
    const hashed = hashToCurve(ids.map((id) => Buffer.from(id)));
    const mine = blind(Buffer.from(key!.text.trim(), 'base64'), hashed);
    expect(mine).toHaveLength(ids.length);
    // Neither the plain hashes nor its own blindings of them are among the F-values it holds,
    // nor among the others' lists it received: without every other key, C cannot tell which
    // F-values are its rows — it learns only how many values each pattern of sites shares.
    const received = [...results.entries()].filter(([k]) => k.endsWith(`@${SITES.lab}`) || k.endsWith(`@${SITES.pharmacy}`))
      .flatMap(([, r]) => r.messages.filter((m) => m.to === c && 'points' in (m.content as object)))
      .flatMap((m) => unpackPoints((m.content as { points: string }).points) ?? []).map((p) => p.toString('hex'));
    expect(received.length).toBeGreaterThan(own.size);
    for (const guess of [hashed, mine]) {
      expect(guess.filter((p) => own.has(p.toString('hex')))).toEqual([]);
      const guesses = new Set(guess.map((p) => p.toString('hex')));
      expect(received.filter((v) => guesses.has(v))).toEqual([]);
    }
  });
});

describe('link under collusion (docs/threat-model.md: what a coalition learns)', () => {
  it('attack that works only in coalition: the comparer with the lab\'s shuffle learns which of the lab\'s people the pharmacy has, inside the intersection or not', async () => {
    const runId = newRun();
    const run = await runLink({ docker, scratch: scratch.dir, image: link, runId, link: 'linked', identifier: 'patient_id', sources: await datasets(runId) });
    expect(run.failed).toBeUndefined();
    const c = SITES.hospital;
    const [{ 'linked.psi-key': key }, { 'linked.psi-order.json': labOrder }] = await Promise.all([
      volume(runId, c, ['linked.psi-key']), volume(runId, SITES.lab, ['linked.psi-order.json']),
    ]);
    // The comparer finishes the lab's and the pharmacy's lists with its own key: F-space.
    const toC = [...run.results.values()].flatMap((r) => r.messages.filter((m) => m.to === c))
      .map((m) => m.content as { origin?: string; points?: string }).filter((m) => m.points !== undefined);
    const finished = (origin: OrgId) => blind(Buffer.from(key!.text.trim(), 'base64'), unpackPoints(toC.find((m) => m.origin === origin)!.points!)!).map((p) => p.toString('hex'));
    const labF = finished(SITES.lab);
    const pharmacyF = new Set(finished(SITES.pharmacy));
    // The lab's shuffle (position → row) names the lab's person behind each of its F-values.
    const [header, ...lines] = texts.lab.trimEnd().split('\n');
    const seen = new Set<string>();
    const labIds = lines.map((l) => l.split(',')).filter((cells) => cells.length === header!.split(',').length && validRows(`${header}\n${cells.join(',')}\n`).size === 1 && !seen.has(cells[0]!) && seen.add(cells[0]!)).map((cells) => cells[0]!);
    const order = JSON.parse(labOrder!.text) as number[];
    const learned = new Set(labF.flatMap((value, position) => (pharmacyF.has(value) ? [labIds[order[position]!]!] : [])));
    // Exactly the lab's pairwise overlap with the pharmacy, hospital or not: what no site alone learns.
    const pharmacyIds = new Set(validRows(texts.pharmacy).keys());
    const hospitalIds = new Set(validRows(texts.hospital).keys());
    const pairwise = new Set([...validRows(texts.lab).keys()].filter((id) => pharmacyIds.has(id)));
    expect(learned).toEqual(pairwise);
    expect([...pairwise].filter((id) => !hospitalIds.has(id)).length).toBeGreaterThan(100);
  }, 600_000);
});

describe('link refusals', () => {
  it('refuses when a site shares nobody with the others: the empty intersection is below the threshold, and nothing is written', async () => {
    const runId = newRun();
    // The lab's people are none of the others'.
    const lab = texts.lab.split('\n').map((line, i) => (i === 0 || line === '' ? line : line.replace(/^[0-9]{9}/, (d) => String((Number(d) + 1) % 1e9).padStart(9, '0')))).join('\n');
    const run = await runLink({ docker, scratch: scratch.dir, image: link, runId, link: 'linked', identifier: 'patient_id', sources: await datasets(runId, { lab }) });
    expect(run.failed?.call.role).toBe('compare');
    const log = run.failed!.result.logTail.join('\n');
    expect(log).toMatch(/intersection is below the threshold \(PARLEY_MIN_ROWS\)/);
    expect(log).not.toMatch(/[0-9]{3,}/);
    expect(run.failed!.result.messages).toEqual([]);
    for (const org of ORGS) expect((await volume(runId, org, ['linked.rows.csv']))['linked.rows.csv']).toBeNull();
  }, 600_000);
});
