/**
 * Differential privacy with budgets the sites keep (issue 13), attacked as a researcher would on
 * real parts (a Temporal dev server, three site workers with their own keys, budgets and ledgers,
 * real sandboxed containers):
 *
 * - the private example chain (examples/chains/cohort-mean-private.yaml), by additive shares and
 *   by the ring: its figures lie within their stated intervals of the exact ones, nobody's history
 *   holds an exact figure, and every site charged its dataset once per release;
 * - the differencing attack the release ledger cannot stop (ten patients left out, nine of them
 *   known to the researcher): exact, it gives the tenth patient's value to the digit; private, the
 *   researcher's best interval for it is wider than everything the bounds allow;
 * - a dataset's budget cannot be overspent: the release that would is refused at every site's
 *   first step, naming the dataset, what remains and what was asked, and nothing runs;
 * - a dataset its operator keeps for private releases (`requirePrivacy`) refuses an exact secure
 *   sum, and the private chain runs over it.
 */
import { randomInt } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { ChainResult, ChainSpec, ChainStep, ContainerStep, SecureSumStep } from '../../common/chain.ts';
import { noiseVariances } from '../../algorithms/lib/privacy.js';
import { protocolPrivacyArgs } from '../../common/privacy/protocol-privacy.ts';
import { openPrivacyBudget, privacyBudgetDir, readPrivacyCharges, summariseBudgets } from '../../activities/privacy-budget.ts';
import type { SitePolicy } from '../../activities/site-policy.ts';
import { exampleAllowList, exampleChain, examplePrivateChain } from '../../demo/example-chain.ts';
import { createFederation, federationPolicyOf, federationSigner, siteDepsOf, type Federation } from '../../demo/federation.ts';
import { startLocalCluster, type LocalCluster } from '../../demo/local-cluster.ts';
import { createDockerClient } from '../../provision/docker-engine.ts';
import { ensureExampleImages } from '../../provision/images.ts';
import { readChainOutputs, statisticsOf } from '../../researcher/chain-result.ts';
import { openChainOutputs, startChain } from '../../researcher/runs.ts';
import { skellamHalfWidth, type Interval, type Statistics } from '../../researcher/statistics.ts';
import { historyText, plaintextFound } from '../support/history-scan.ts';
import { runLeftovers } from '../support/run-leftovers.ts';
import { testNamespace } from '../support/test-namespace.ts';
import { columnValues, plainMoments, referenceCohort, registryPath, type Condition } from '../support/statistics-steps.ts';

// Names of their own: test files share one Temporal server, and a site polls `site.<org>`.
const SITES = ['dpe-a', 'dpe-b', 'dpe-c'] as const;
const [A] = SITES;
const LETTERS = ['a', 'b', 'c'] as const;
const REQUESTER = 'dpe-researcher';
/** Each site's budget on `patients`: enough for a few releases of ε = 1, not for one of ε = 6 more. */
const BUDGET = { epsilon: 6, delta: 1e-6 };

let docker: Docker;
let stateDir: string;
let federation: Federation;
let cluster: LocalCluster;
let exact: ChainSpec;
let private_: ChainSpec;

beforeAll(async () => {
  docker = createDockerClient();
  const images = await ensureExampleImages(docker, () => {});
  exact = await exampleChain(images);
  private_ = await examplePrivateChain(images);
  stateDir = await mkdtemp(join(tmpdir(), 'parley-dp-'));
  // `strict` is the same registry under a name its operator keeps for private releases only.
  const files = new Map(SITES.map((org, i) => [org, { patients: registryPath(LETTERS[i]!), strict: registryPath(LETTERS[i]!) }] as const));
  federation = await createFederation({ stateDir, counts: new Map(SITES.map((org) => [org, 0n])), requester: REQUESTER, files });
  const policyOf = (site: Federation['sites'][number]): SitePolicy => ({
    ...federationPolicyOf(site, federation),
    privacy: { budgets: { patients: BUDGET }, requirePrivacy: ['strict'] },
  });
  cluster = await startLocalCluster({
    temporalAddress: inject('temporalAddress'),
    namespace: testNamespace(import.meta.url),
    sites: federation.sites.map((site) => siteDepsOf(site, federation, docker, exampleAllowList(images), federation.directory, policyOf(site))),
  });
});

afterAll(async () => {
  await cluster?.shutdown();
  if (stateDir) await rm(stateDir, { recursive: true, force: true });
});

function start(spec: ChainSpec, label: string): { runId: string; handle: Promise<WorkflowHandle> } {
  const runId = `test-dp-${label}-${randomInt(1e9)}`;
  return { runId, handle: startChain(cluster.client, { chain: spec, participants: [...SITES], requester: REQUESTER, stepTimeoutMs: 60_000, signer: federationSigner(federation) }, runId) };
}

/** Runs `spec` to its end and opens its one statistics output as the researcher. */
async function statisticsRun(spec: ChainSpec, label: string): Promise<{ runId: string; statistics: Statistics; history: string }> {
  const { runId, handle } = start(spec, label);
  const h = await handle;
  const result = (await h.result()) as ChainResult;
  const opened = await openChainOutputs(result, federation.requester, federation.directory);
  const statistics = statisticsOf(readChainOutputs(spec, opened));
  if (!statistics) throw new Error('the chain released no statistics');
  return { runId, statistics, history: await historyText(h) };
}

async function failureOf(runId: string): Promise<{ type?: string; message: string }> {
  const err = await cluster.client.workflow.getHandle(runId).result().then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(WorkflowFailedError);
  const cause = (err as WorkflowFailedError).cause as { type?: string; message: string; cause?: { type?: string; message: string } };
  return cause.cause ?? cause;
}

const preprocessOf = (spec: ChainSpec) => spec.steps.find((s): s is ContainerStep => s.kind === 'container' && s.id === 'preprocess')!;
const whereOf = (spec: ChainSpec) => preprocessOf(spec).args.where as unknown as Condition[];

/** `spec` with more conditions in its preprocess step. */
function withFilter(spec: ChainSpec, extra: Condition[]): ChainSpec {
  return {
    ...spec,
    steps: spec.steps.map((s): ChainStep => (s === preprocessOf(spec) ? { ...s, args: { ...s.args, where: [...whereOf(spec), ...extra] as unknown as ContainerStep['args'][string] } } : s)),
  };
}

/** `spec` with another ε, or another protocol, on its secure sum. */
function withSecureSum(spec: ChainSpec, change: Partial<SecureSumStep>): ChainSpec {
  return { ...spec, steps: spec.steps.map((s): ChainStep => (s.kind === 'secure-sum' ? { ...s, ...change } : s)) };
}

/** The exact cohort rows of every site, and their lab values. */
async function exactCohort(where: Condition[]): Promise<{ columns: string[]; rows: string[][] }> {
  const cohorts = await Promise.all(LETTERS.map(async (l) => referenceCohort(await readFile(registryPath(l), 'utf8'), where)));
  return { columns: cohorts[0]!.columns, rows: cohorts.flatMap((c) => c.rows) };
}

const within = (interval: Interval, x: number) => interval !== null && interval[0] <= x && x <= interval[1];

describe('the private example chain', () => {
  it.each(['additive', 'ring'] as const)('gives figures within their stated intervals of the exact ones, by %s, with no exact figure in the history', async (protocol) => {
    const spec = protocol === 'ring' ? withSecureSum(private_, await examplePrivateRing()) : private_;
    const { runId, statistics, history } = await statisticsRun(spec, protocol);
    const { columns, rows } = await exactCohort(whereOf(private_));
    const truth = plainMoments(columnValues(columns, rows, 'lab_value'));
    const p = statistics.privacy!;
    expect(p).toMatchObject({ mechanism: 'skellam', epsilon: 1, delta: 1e-6, confidence: 0.95 });
    expect(within(p.intervals.count, truth.count)).toBe(true);
    expect(within(p.intervals.mean, truth.mean)).toBe(true);
    expect(within(p.intervals.variance, truth.variance)).toBe(true);
    // The sites' noise is in the figures: nobody was handed the exact ones.
    expect(statistics.count === truth.count && Math.abs(statistics.mean - truth.mean) < 1e-9).toBe(false);
    // The exact centred sums appear nowhere in what the central parts keep (small counts would
    // match timings and ids by chance; the sums are figures nothing else produces).
    const centred = columnValues(columns, rows, 'lab_value').map((x) => Math.round(x * 10) - 90);
    const sums = [centred.reduce((a, b) => a + b, 0), centred.reduce((a, b) => a + b * b, 0)];
    expect(Math.abs(sums[0]!)).toBeGreaterThan(1000);
    expect(plaintextFound(history, sums)).toEqual([]);
    expect(await runLeftovers(docker, runId)).toEqual({ containers: 0, volumes: 0 });
    // Every site charged its dataset for this release, once.
    for (const site of federation.sites) {
      const charges = (await readPrivacyCharges(privacyBudgetDir(site.stateDir))).filter((c) => c.runId === runId);
      expect(charges).toEqual([expect.objectContaining({ step: 'total', datasets: ['patients'], epsilon: 1, delta: 1e-6, org: site.org })]);
    }
  }, 300_000);
});

/** The private chain by the ring: its secure sum with the ring's image, as the chain file would pin it. */
async function examplePrivateRing(): Promise<SecureSumStep> {
  const images = await ensureExampleImages(docker, () => {});
  const ring = exampleAllowList(images).find((a) => a.name.startsWith('parley/secure-sum'))!;
  return { ...(private_.steps[2] as SecureSumStep), protocol: 'ring', image: { name: ring.name, digest: ring.digest } };
}

describe('the differencing attack the release ledger cannot stop', () => {
  // Ten patients of registry a's cohort: the researcher knows nine of their values, and leaves all ten
  // out. Ten rows is the disclosure threshold, so the ledger allows the pair.
  it('gives the tenth patient\'s value exactly without privacy, and an interval wider than the bounds with it', async () => {
    const a = referenceCohort(await readFile(registryPath('a'), 'utf8'), whereOf(exact));
    const id = a.columns.indexOf('patient_id');
    const lab = a.columns.indexOf('lab_value');
    const ten = a.rows.filter((r) => r[lab] !== '').slice(0, 10);
    const [target, ...known] = ten;
    const leaveOut = ten.map((r): Condition => ({ column: 'patient_id', op: '!=', value: r[id]! }));
    const tenths = (row: string[]) => Math.round(Number(row[lab]) * 10);

    // Exact: the two sums differ by exactly the ten values.
    const full = await statisticsRun(exact, 'exact-full');
    const fewer = await statisticsRun(withFilter(exact, leaveOut), 'exact-fewer');
    const sumOf = (s: Statistics) => s.mean * s.count * 10;
    const estimate = sumOf(full.statistics) - sumOf(fewer.statistics) - known.reduce((t, r) => t + tenths(r), 0);
    expect(Math.round(estimate)).toBe(tenths(target!));

    // Private: the same pair, each release at ε = 1.
    const fullPrivate = await statisticsRun(private_, 'private-full');
    const fewerPrivate = await statisticsRun(withFilter(private_, leaveOut), 'private-fewer');
    const variances = (await releaseVariances(fullPrivate.runId));
    // The difference of the two centred sums carries both releases' noise on the sum.
    const halfWidth = skellamHalfWidth(2 * variances.sum, 0.05);
    const boundsWidth = (14 - 4) * 10;
    expect(halfWidth).toBeGreaterThan(boundsWidth);
    // The researcher's 95 % interval for the patient, [estimate ± halfWidth], holds every value the
    // bounds allow: the pair tells it nothing the bounds did not. What it did learn is bounded by
    // the ε the two releases spent, and every site charged them.
    const spent = summariseBudgets(await readPrivacyCharges(privacyBudgetDir(federation.sites[0]!.stateDir)), { patients: BUDGET }, new Date()).patients!;
    expect(spent.charges.map((c) => c.runId)).toEqual(expect.arrayContaining([fullPrivate.runId, fewerPrivate.runId]));
  }, 600_000);
});

/** The noise variances a private release of `runId` carried, by the ledger's record and the noise plan. */
async function releaseVariances(runId: string): Promise<{ sum: number }> {
  const [charge] = (await readPrivacyCharges(privacyBudgetDir(federation.sites[0]!.stateDir))).filter((c) => c.runId === runId);
  // The noise plan every site drew by, over the private chain's layout (bounds [4, 14] at one decimal).
  const layout = { kind: 'statistics', column: 'lab_value', decimals: 1, bins: [4, 5.7, 6.5, 8, 10, 14], bounds: [4, 14], center: '90' };
  return { sum: noiseVariances(layout, charge!.unitVariance)[1]! };
}

describe('budgets the sites keep', () => {
  it('refuses, at every site\'s first step, the release that would overspend a dataset\'s budget, naming what remains and what was asked; nothing runs', async () => {
    const askFor = { epsilon: 6, delta: 1e-6 };
    const { runId, handle } = start(withSecureSum(private_, { privacy: askFor }), 'overspend');
    const h = await handle;
    const failure = await failureOf(runId);
    expect(failure.type).toBe('ERR_PRIVACY_BUDGET');
    expect(failure.message).toMatch(new RegExp(`^Run "${runId}" was refused at site "dpe-[abc]": its release "total" would overspend the privacy budget of dataset "patients" \\(ERR_PRIVACY_BUDGET\\)\\. Of its ε = 6 at δ = 1e-6, ε = [0-9.]+ remains, and the release asked for ε = 6, δ = 1e-6\\.`));
    const history = await historyText(h);
    expect(history).not.toContain('total.additive');
    expect(await runLeftovers(docker, runId)).toEqual({ containers: 0, volumes: 0 });
    // Nothing charged for it anywhere, and what remains is what the site says.
    for (const site of federation.sites) {
      const charges = await readPrivacyCharges(privacyBudgetDir(site.stateDir));
      expect(charges.some((c) => c.runId === runId)).toBe(false);
      const spend = summariseBudgets(charges, { patients: BUDGET }, new Date()).patients!;
      expect(spend.spentEpsilon).toBeGreaterThan(1);
      expect(spend.spentEpsilon).toBeLessThan(BUDGET.epsilon);
    }
    // A ledger reopened as after a restart still refuses it: the budget is kept on disk.
    const reopened = openPrivacyBudget(privacyBudgetDir(federation.sites[0]!.stateDir), { patients: BUDGET });
    const { unitVariance } = protocolPrivacyArgs(askFor);
    await expect(reopened.check([{ runId, step: 'total', org: A, datasets: ['patients'], ...askFor, unitVariance }])).rejects.toMatchObject({ code: 'ERR_PRIVACY_BUDGET' });
  }, 300_000);
});

describe('datasets kept for private releases', () => {
  const overStrict = (spec: ChainSpec): ChainSpec => ({
    ...spec,
    steps: spec.steps.map((s): ChainStep => (s === preprocessOf(spec) ? { ...s, datasets: ['strict'], args: { ...s.args, dataset: 'strict' } } : s)),
  });

  it('refuses an exact secure sum over them before anything runs, and runs the private chain over them', async () => {
    const { runId, handle } = start(overStrict(exact), 'strict-exact');
    const h = await handle;
    const failure = await failureOf(runId);
    expect(failure.type).toBe('ERR_RELEASE_REFUSED');
    expect(failure.message).toMatch(/releases figures from dataset "strict" only with differential privacy, and its secure sum "total" asks for no privacy/);
    expect(await historyText(h)).not.toContain('total.additive');

    const { statistics } = await statisticsRun(overStrict(private_), 'strict-private');
    expect(statistics.privacy?.epsilon).toBe(1);
  }, 300_000);
});
