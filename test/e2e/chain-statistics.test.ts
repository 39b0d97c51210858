/**
 * The example chain (examples/chains/cohort-mean.yaml) end to end on real parts: each site holds
 * its own copy of an example registry (examples/data/), preprocesses and analyses it in sandboxed
 * containers, and a secure sum — additive or ring — gives the researcher count, mean, variance,
 * standard deviation and the histogram. Checked against a plain computation over the CSVs, with
 * the histogram's small cells suppressed.
 */
import { randomInt } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { ChainResult, ChainSpec, SecureSumProtocol } from '../../common/chain.ts';
import { exportAuditBundle } from '../../audit/export-bundle.ts';
import { replayHistories } from '../../audit/replay-histories.ts';
import { verifyHistories } from '../../audit/verify-bundle.ts';
import { workflowBundle } from '../../workers/coordinator/workflow-bundle.ts';
import { readChainOutputs, statisticsOf } from '../../researcher/chain-result.ts';
import { createFederation, federationSigner, siteDepsOf, type Federation } from '../../demo/federation.ts';
import { startLocalCluster, type LocalCluster } from '../../demo/local-cluster.ts';
import { createDockerClient } from '../../provision/docker-engine.ts';
import { exampleAllowList, exampleChain } from '../../demo/example-chain.ts';
import { ensureExampleImages, type ExampleImages } from '../../provision/images.ts';
import { openChainOutputs, startChain } from '../../researcher/runs.ts';
import { historyText, plaintextFound } from '../support/history-scan.ts';
import { columnValues, plainMoments, referenceCohort, referenceValues, registryPath, type Condition } from '../support/statistics-steps.ts';
import { runLeftovers } from '../support/run-leftovers.ts';
import { testNamespace } from '../support/test-namespace.ts';

const LETTERS = ['a', 'b', 'c', 'd', 'e'] as const;
// Names of their own: test files share one Temporal server, and a site polls `site.<org>`.
const SITES = LETTERS.map((l) => `cstat-${l}`);
const REQUESTER = 'cstat-researcher';
// The site that refuses to release small aggregates in the disclosure test.
const STRICT = 'cstat-strict';
// Every other site's disclosure threshold: the default.
const THRESHOLD = 10;

let docker: Docker;
let images: ExampleImages;
let stateDir: string;
let federation: Federation;
let cluster: LocalCluster;
let chain: ChainSpec;

beforeAll(async () => {
  docker = createDockerClient();
  images = await ensureExampleImages(docker, () => {});
  chain = await exampleChain(images);

  stateDir = await mkdtemp(join(tmpdir(), 'parley-chain-stats-'));
  const files = new Map([...SITES.map((org, i) => [org, { patients: registryPath(LETTERS[i]!) }] as const), [STRICT, { patients: registryPath('a') }]]);
  federation = await createFederation({ stateDir, counts: new Map([...SITES, STRICT].map((org) => [org, 0n])), requester: REQUESTER, files });
  const allowed = exampleAllowList(images);
  cluster = await startLocalCluster({
    temporalAddress: inject('temporalAddress'),
    namespace: testNamespace(import.meta.url),
    sites: federation.sites.map((site) => siteDepsOf(
      // The strict site's operator asks for more rows than its cohort has (81 in registry a).
      site.org === STRICT ? { ...site, disclosureThreshold: 1000 } : site,
      federation, docker, allowed,
    )),
  });
});

afterAll(async () => {
  await cluster?.shutdown();
  if (stateDir) await rm(stateDir, { recursive: true, force: true });
});

/** The example chain's own filter and analysis, read from the chain itself. */
function analysisOf(spec: ChainSpec) {
  const pre = spec.steps.find((s) => s.id === 'preprocess')!;
  const ana = spec.steps.find((s) => s.id === 'analyse')!;
  if (pre.kind !== 'container' || ana.kind !== 'container') throw new Error('unexpected example chain');
  return {
    where: pre.args.where as unknown as Condition[],
    column: ana.args.column as string,
    decimals: ana.args.decimals as number,
    bins: ana.args.bins as number[],
  };
}

/** The plain computation: every site's cohort in one place, as no real deployment could. */
async function plainStatistics(letters: ReadonlyArray<(typeof LETTERS)[number]>) {
  const { where, column, decimals, bins } = analysisOf(chain);
  const xs: number[] = [];
  const perSite: bigint[][] = [];
  for (const letter of letters) {
    const { columns, rows } = referenceCohort(await readFile(registryPath(letter), 'utf8'), where);
    xs.push(...columnValues(columns, rows, column));
    perSite.push(referenceValues(columns, rows, column, decimals, bins));
  }
  const histogram = new Array<number>(bins.length + 1).fill(0);
  for (const x of xs) histogram[bins.filter((e) => x >= e).length]! += 1;
  return { ...plainMoments(xs), histogram, perSite };
}

function withProtocol(spec: ChainSpec, protocol: SecureSumProtocol): ChainSpec {
  return {
    ...spec,
    steps: spec.steps.map((s) => (s.kind === 'secure-sum' ? { ...s, protocol, image: protocol === 'ring' ? images.secureSum : images.additiveSum } : s)),
  };
}


describe('the example chain: cohort statistics across registries', () => {
  it.each([
    ['additive', 3],
    ['ring', 3],
    ['additive', 5],
    ['ring', 5],
  ] as const)('with the %s secure sum over %i sites gives the plain computation\'s count, mean, variance and histogram (small cells suppressed), and no site\'s own figures in the history', async (protocol, n) => {
    const participants = SITES.slice(0, n);
    const runId = `test-chain-stats-${protocol}${n}-${randomInt(1e9)}`;
    const handle = await startChain(cluster.client, { chain: withProtocol(chain, protocol), participants, requester: REQUESTER, signer: federationSigner(federation) }, runId);
    const result = (await handle.result()) as ChainResult;

    const opened = await openChainOutputs(result, federation.requester, federation.directory);
    const stats = statisticsOf(readChainOutputs(chain, opened));
    const plain = await plainStatistics(LETTERS.slice(0, n));
    expect(stats).toBeDefined();
    expect(stats!.count).toBe(plain.count);
    expect(stats!.mean).toBeCloseTo(plain.mean, 9);
    expect(stats!.variance).toBeCloseTo(plain.variance, 9);
    expect(stats!.sd).toBeCloseTo(Math.sqrt(plain.variance), 9);
    // Small cells are suppressed by the finishing site (activities/disclosure-control.ts): every
    // plain cell below the threshold of 10 — the example's own result has a cell of 2 — and
    // enough others that the hidden ones hold at least 10 together; every other cell is exact.
    const suppressed = stats!.histogram.flatMap((c, i) => (c.suppressed ? [i] : []));
    plain.histogram.forEach((count, i) => {
      if (count < THRESHOLD) expect(suppressed).toContain(i);
      if (!suppressed.includes(i)) expect(stats!.histogram[i]!.count).toBe(count);
    });
    expect(plain.histogram.some((count) => count > 0 && count < THRESHOLD)).toBe(true);
    expect(suppressed.reduce((a, i) => a + plain.histogram[i]!, 0)).toBeGreaterThanOrEqual(THRESHOLD);
    expect(stats!.histogram.filter((c) => c.suppressed).every((c) => c.count === null)).toBe(true);
    expect(stats!.suppressedBelow).toBe(THRESHOLD);
    // Only the total's output reaches the researcher: preprocess and analyse send nothing.
    expect(result.outputs.map((o) => o.step)).toEqual(['total']);

    // No site's own figures appear anywhere in the history. Only those of six digits or more are
    // searched for: a count of 131 or a sum of 9412 could match a timing or a size by chance.
    const history = await historyText(handle);
    const ownFigures = plain.perSite.flat().filter((figure) => figure >= 100_000n);
    expect(ownFigures.length).toBeGreaterThanOrEqual(n);
    expect(plaintextFound(history, ownFigures)).toEqual([]);
    expect(await runLeftovers(docker, runId)).toEqual({ containers: 0, volumes: 0 });
  });

  it('exports, replays against this code and verifies without any private key, like any run', async () => {
    const participants = SITES.slice(0, 3);
    const runId = `test-chain-audit-${randomInt(1e9)}`;
    await (await startChain(cluster.client, { chain, participants, requester: REQUESTER, signer: federationSigner(federation) }, runId)).result();
    const { bundle, census } = await exportAuditBundle({ client: cluster.client, workflowId: runId, keys: { directory: federation.directory, source: 'the test federation' } });
    expect(census.orgs).toEqual(expect.arrayContaining(participants));

    const replayed = await replayHistories(bundle.histories.map((h) => ({ file: 'fresh chain', ...h })), await workflowBundle());
    expect(replayed.filter((o) => o.problem)).toEqual([]);
    const report = await verifyHistories(bundle.histories, bundle.publicKeys);
    expect(report.findings).toEqual([]);
    // One attestation per container that ran: preprocess and analyse at 3 sites, 3 + 3 + 1 for the sum.
    expect(report.histories[0]!.attestations).toBe(13);
  });

  it('fails with a clear message and releases nothing when a site\'s cohort is below its disclosure threshold', async () => {
    const participants = [SITES[0]!, SITES[1]!, STRICT];
    const runId = `test-chain-disclosure-${randomInt(1e9)}`;
    const handle = await startChain(cluster.client, { chain, participants, requester: REQUESTER, signer: federationSigner(federation) }, runId);
    const err = await handle.result().then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const cause = (err as WorkflowFailedError).cause as { cause?: { type?: string; message: string } };
    expect(cause.cause?.type).toBe('ERR_STEP_FAILED');
    expect(cause.cause?.message).toContain(`Step "analyse" failed at site "${STRICT}"`);
    expect(cause.cause?.message).toMatch(/disclosure threshold/);
    // The strict site's cohort size is not in the message.
    const strictCount = (await plainStatistics(['a'])).count;
    expect(plaintextFound(cause.cause!.message, [strictCount])).toEqual([]);
    // Nothing was sealed for the researcher, and no secure-sum step ran.
    const history = await historyText(handle);
    expect(history).not.toContain('total.additive');
    expect(await runLeftovers(docker, runId)).toEqual({ containers: 0, volumes: 0 });
  });
});
