/**
 * Vertical analyses end to end on real parts: a Temporal dev server, three site workers running
 * sandboxed containers, envelopes in the history. Each site holds its columns about the same
 * linked people; a crosstab, a two-round cohort summary and a regression run as vertical chain
 * steps, checked against the plaintext join, and the history holds none of the values.
 *
 * The `link` step here is a test fixture (algorithms/test-fixtures/linked-rows) that copies an
 * already-linked CSV into each site's run volume under the link step's names; once the private
 * set intersection step is merged, this chain runs after the real link.
 */
import { randomInt } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { ChainResult, ChainSpec, PinnedImage } from '../../common/chain.ts';
import { VERTICAL_MODULUS, type VerticalStep } from '../../common/vertical.ts';
import { asAnalysisImage } from '../../activities/site-policy.ts';
import { createFederation, federationSigner, siteDepsOf, type Federation } from '../../demo/federation.ts';
import { startLocalCluster, type LocalCluster } from '../../demo/local-cluster.ts';
import { exampleAllowList } from '../../demo/example-chain.ts';
import { createDockerClient } from '../../provision/docker-engine.ts';
import { ensureExampleImages, type ExampleImages } from '../../provision/images.ts';
import { asProtocolImage } from '../../activities/site-policy.ts';
import { openChainOutputs, startChain } from '../../researcher/runs.ts';
import { decodeVerticalResult } from '../../researcher/vertical.ts';
import { testImages } from '../support/docker-images.ts';
import { historyText, plaintextFound } from '../support/history-scan.ts';
import { runLeftovers } from '../support/run-leftovers.ts';
import { testNamespace } from '../support/test-namespace.ts';
import { linkedFixture, olsFit, type LinkedPeople } from '../support/vertical-people.ts';

// Names of their own: test files share one Temporal server, and a site polls `site.<org>`.
const HOSPITAL = 'vert-hospital';
const LAB = 'vert-lab';
const PHARMACY = 'vert-pharmacy';
const SITES = [HOSPITAL, LAB, PHARMACY];
const REQUESTER = 'vert-researcher';
const PEOPLE = 600;

let docker: Docker;
let images: ExampleImages;
let linkImage: PinnedImage;
let stateDir: string;
let federation: Federation;
let cluster: LocalCluster;
let people: LinkedPeople;
let small: LinkedPeople;

beforeAll(async () => {
  docker = createDockerClient();
  images = await ensureExampleImages(docker, () => {});
  const fixture = await testImages(docker, { link: 'test-fixtures/linked-rows' });
  linkImage = { name: fixture.link.ref, digest: fixture.link.digest };
  stateDir = await mkdtemp(join(tmpdir(), 'parley-vertical-'));
  people = linkedFixture(PEOPLE, 11, { distinctive: true });
  small = linkedFixture(8, 12);
  const csv = async (name: string, text: string) => {
    const path = join(stateDir, name);
    await writeFile(path, text);
    return path;
  };
  const files = new Map<string, Record<string, string>>();
  for (const [org, part] of [[HOSPITAL, 'hospital'], [LAB, 'lab'], [PHARMACY, 'pharmacy']] as const) {
    files.set(org, { linked: await csv(`${org}.csv`, people.csv[part]!), few: await csv(`${org}-few.csv`, small.csv[part]!) });
  }
  federation = await createFederation({ stateDir, counts: new Map(SITES.map((org) => [org, 0n])), requester: REQUESTER, files });
  const allowed = [...exampleAllowList(images), asProtocolImage(images.vertical), asAnalysisImage(linkImage)];
  cluster = await startLocalCluster({
    temporalAddress: inject('temporalAddress'),
    namespace: testNamespace(import.meta.url),
    sites: federation.sites.map((site) => siteDepsOf(site, federation, docker, allowed)),
  });
}, 600_000);

afterAll(async () => {
  await cluster?.shutdown();
  if (stateDir) await rm(stateDir, { recursive: true, force: true });
});

function chainOf(dataset: string, steps: Array<Omit<VerticalStep, 'kind' | 'linked' | 'image' | 'modulus' | 'after'>>): ChainSpec {
  return {
    name: 'vertical',
    steps: [
      { kind: 'container', id: 'link', image: linkImage, datasets: [dataset], args: { dataset, linked: 'link' }, after: [], inputs: [] },
      ...steps.map((s): VerticalStep => ({ kind: 'vertical', linked: 'link', image: images.vertical, modulus: VERTICAL_MODULUS, after: ['link'], ...s })),
    ],
  };
}

const LEVELS = ['T1D', 'T2D', 'none'];

describe('vertical analyses over linked rows, as chain steps', () => {
  it('gives the crosstab, the cohort summary and the regression of the plaintext join, and no value in the history', async () => {
    const chain = chainOf('linked', [
      { id: 'table', crosstab: { rows: { at: HOSPITAL, column: 'diagnosis', levels: LEVELS }, columns: { at: PHARMACY, column: 'statin', levels: ['0', '1'] } } },
      { id: 'cohort', summary: { value: { at: LAB, column: 'hba1c', decimals: 1 }, where: [{ at: PHARMACY, column: 'statin', equals: '1' }, { at: HOSPITAL, column: 'age', atLeast: 60 }] } },
      { id: 'regression', regression: { outcome: { at: LAB, column: 'hba1c', decimals: 1 }, features: [{ at: HOSPITAL, column: 'age' }, { at: HOSPITAL, column: 'sex', equals: 'M' }, { at: PHARMACY, column: 'metformin' }, { at: PHARMACY, column: 'statin' }] } },
    ]);
    const runId = `test-vertical-${randomInt(1e9)}`;
    const handle = await startChain(cluster.client, { chain, participants: SITES, requester: REQUESTER, signer: federationSigner(federation) }, runId);
    const result = (await handle.result()) as ChainResult;
    const opened = await openChainOutputs(result, federation.requester, federation.directory);
    expect(opened.map((o) => [o.step, o.org])).toEqual([['table', HOSPITAL], ['cohort', HOSPITAL], ['regression', HOSPITAL]]);
    const [table, cohort, regression] = opened.map((o) => decodeVerticalResult(o.content as never));

    if (table?.kind !== 'crosstab') throw new Error('no crosstab');
    const plainCells = LEVELS.map((d) => ['0', '1'].map((s) => people.rows.filter((p) => p.diagnosis === d && p.statin === s).length));
    table.cells.forEach((row, i) => row.forEach((cell, j) => {
      if (plainCells[i]![j]! < 10) expect(cell).toBeNull();
      if (cell !== null) expect(cell).toBe(plainCells[i]![j]);
    }));

    if (cohort?.kind !== 'summary') throw new Error('no summary');
    const xs = people.rows.filter((p) => p.statin === '1' && p.age >= 60).map((p) => p.hba1c);
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(cohort.count).toBe(xs.length);
    expect(cohort.mean).toBeCloseTo(mean, 9);
    expect(cohort.variance).toBeCloseTo(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1), 9);

    if (regression?.kind !== 'regression') throw new Error('no regression');
    const ols = olsFit(people.rows.map((p) => [1, p.age, p.sex === 'M' ? 1 : 0, Number(p.metformin), Number(p.statin)]), people.rows.map((p) => p.hba1c));
    regression.coefficients.forEach((b, i) => expect(Math.abs(b - ols.beta[i]!)).toBeLessThan(1e-6));
    regression.standardErrors.forEach((se, i) => expect(Math.abs(se - ols.se[i]!)).toBeLessThan(1e-6));
    expect(Math.abs(regression.r2 - ols.r2)).toBeLessThan(1e-6);

    // The lab's distinctive HbA1c values (above 1,000), raw and in fixed point, are nowhere in the history.
    const history = await historyText(handle);
    const values = [...new Set(people.rows.flatMap((p) => [p.hba1c.toFixed(1), String(Math.round(p.hba1c * 10))]))];
    expect(plaintextFound(history, values)).toEqual([]);
    expect(await runLeftovers(docker, runId)).toEqual({ containers: 0, volumes: 0 });
  }, 600_000);

  it('refuses a cohort over too few linked rows at the aggregator: nothing is released', async () => {
    const chain = chainOf('few', [
      { id: 'cohort', summary: { value: { at: LAB, column: 'hba1c', decimals: 1 }, where: [{ at: PHARMACY, column: 'statin', equals: '1' }] } },
    ]);
    const runId = `test-vertical-few-${randomInt(1e9)}`;
    const handle = await startChain(cluster.client, { chain, participants: SITES, requester: REQUESTER, signer: federationSigner(federation) }, runId);
    const error = await handle.result().then(() => undefined, (err: unknown) => err);
    expect(error).toBeInstanceOf(WorkflowFailedError);
    const cause = (error as WorkflowFailedError).cause as (Error & { cause?: Error }) | undefined;
    expect(`${cause?.message} ${cause?.cause?.message}`).toMatch(/disclosure threshold/);
    expect(await runLeftovers(docker, runId)).toEqual({ containers: 0, volumes: 0 });
  }, 600_000);
});
