/**
 * Disclosure control, attacked as a researcher or an algorithm author would, on real parts (a
 * Temporal dev server, site workers with their own keys, real sandboxed containers):
 *
 * - a hostile image leaks a secret from its dataset through a failure — a socket path, a
 *   recipient, its log lines, its exit code — and the secret is nowhere readable;
 * - a hostile analysis skips its own threshold check or relabels its layout, and the finishing
 *   site's worker refuses the total all the same;
 * - the differencing pair of issue 12: the example chain, then the same chain with one more filter
 *   excluding one patient — refused by the site holding the patient, nothing released, and
 *   `parley site releases` shows what was.
 */
import { randomInt } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import type Docker from 'dockerode';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { ChainResult, ChainSpec, ChainStep, ContainerStep } from '../../common/chain.ts';
import type { ImageRef } from '../../activities/types.ts';
import { parleyDataConverter } from '../../activities/failure-codec.ts';
import { exampleAllowList, exampleChain } from '../../demo/example-chain.ts';
import { asAnalysisImage } from '../../activities/site-policy.ts';
import { createFederation, federationSigner, siteDepsOf, type Federation } from '../../demo/federation.ts';
import { startLocalCluster, type LocalCluster } from '../../demo/local-cluster.ts';
import { createDockerClient } from '../../provision/docker-engine.ts';
import { ensureExampleImages } from '../../provision/images.ts';
import { startChain } from '../../researcher/runs.ts';
import { testImages } from '../support/docker-images.ts';
import { historyText } from '../support/history-scan.ts';
import { linesOf, parley } from '../support/parley-cli.ts';
import { runLeftovers } from '../support/run-leftovers.ts';
import { referenceCohort, registryPath, type Condition } from '../support/statistics-steps.ts';
import { testNamespace } from '../support/test-namespace.ts';

// Names of their own: test files share one Temporal server, and a site polls `site.<org>`.
const SITES = ['disc-a', 'disc-b', 'disc-c'] as const;
const [A] = SITES;
const LETTERS = ['a', 'b', 'c'] as const;
const REQUESTER = 'disc-researcher';
// Lowercase letters and digits: it must pass for an organisation id, as a recipient would.
const SECRET = `leak${randomInt(1e8, 1e9)}`;

let docker: Docker;
let stateDir: string;
let federation: Federation;
let cluster: LocalCluster;
let chain: ChainSpec;
let leaky: ImageRef;
let writer: ImageRef;

beforeAll(async () => {
  docker = createDockerClient();
  const images = await ensureExampleImages(docker, () => {});
  chain = await exampleChain(images);
  const fixtures = await testImages(docker, { leaky: 'test-fixtures/leaky', writer: 'test-fixtures/statistics-writer' });
  leaky = { name: fixtures.leaky.ref, digest: fixtures.leaky.digest };
  writer = { name: fixtures.writer.ref, digest: fixtures.writer.digest };
  stateDir = await mkdtemp(join(tmpdir(), 'parley-disclosure-'));
  const secretFile = join(stateDir, 'secret.txt');
  await writeFile(secretFile, `${SECRET}\n`);
  const files = new Map(SITES.map((org, i) => [org, { patients: registryPath(LETTERS[i]!), secret: secretFile }] as const));
  federation = await createFederation({ stateDir, counts: new Map(SITES.map((org) => [org, 0n])), requester: REQUESTER, files });
  const allowed = [...exampleAllowList(images), asAnalysisImage(leaky), asAnalysisImage(writer)];
  cluster = await startLocalCluster({
    temporalAddress: inject('temporalAddress'),
    namespace: testNamespace(import.meta.url),
    sites: federation.sites.map((site) => siteDepsOf(site, federation, docker, allowed)),
  });
});

afterAll(async () => {
  await cluster?.shutdown();
  if (stateDir) await rm(stateDir, { recursive: true, force: true });
});

function start(spec: ChainSpec, label: string): { runId: string; handle: Promise<WorkflowHandle> } {
  const runId = `test-disclosure-${label}-${randomInt(1e9)}`;
  return { runId, handle: startChain(cluster.client, { chain: spec, participants: [...SITES], requester: REQUESTER, stepTimeoutMs: 60_000, signer: federationSigner(federation) }, runId) };
}

/** The activity failure a run ended with, as `client` reads it. */
async function failureOf(client: Client, runId: string): Promise<{ type?: string; message: string }> {
  const err = await client.workflow.getHandle(runId).result().then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(WorkflowFailedError);
  const cause = (err as WorkflowFailedError).cause as { type?: string; message: string; cause?: { type?: string; message: string } };
  return cause.cause ?? cause;
}

/** A client that reads the history as the coordinator, the API or Temporal's operator could: no site key. */
function keylessClient(): Client {
  return new Client({ connection: cluster.client.connection, namespace: cluster.namespace, dataConverter: parleyDataConverter() });
}

/** A client holding only `org`'s own key, as that site's operator does. */
function siteClient(org: string): Client {
  const keys = federation.sites.find((s) => s.org === org)!.keys;
  return new Client({ connection: cluster.client.connection, namespace: cluster.namespace, dataConverter: parleyDataConverter({ openWith: (o) => (o === org ? keys : undefined) }) });
}

function leakStep(exitCode: number): ContainerStep {
  return { kind: 'container', id: 'leak', image: leaky, at: [A], datasets: ['secret'], args: { dataset: 'secret', exitCode }, after: [], inputs: [] };
}

/** The example chain with more conditions in its preprocess step. */
function withFilter(extra: Condition[]): ChainSpec {
  return {
    ...chain,
    steps: chain.steps.map((s): ChainStep => (s.kind === 'container' && s.id === 'preprocess' ? { ...s, args: { ...s.args, where: [...(s.args.where as unknown as Condition[]), ...extra] as unknown as ContainerStep['args'][string] } } : s)),
  };
}

/** The example chain with its analysis replaced by the hostile writer of `content`. */
function withWrittenStatistics(content: unknown): ChainSpec {
  const total = chain.steps.find((s) => s.kind === 'secure-sum')!;
  const write: ContainerStep = { kind: 'container', id: 'analyse', image: writer, datasets: [], args: { content: content as ContainerStep['args'][string] }, after: [], inputs: [] };
  return { ...chain, steps: [write, { ...total, after: ['analyse'] }] };
}

async function releasesOf(org: string): Promise<{ lines: string[]; json: { datasets: Record<string, Array<{ runId: string; step: string; size: number; setHash: string }>> } }> {
  const site = federation.sites.find((s) => s.org === org)!;
  const file = join(site.stateDir, 'site.yaml');
  await writeFile(file, stringify({
    organisation: org,
    keyFile: site.keyFile,
    stateDir: site.stateDir,
    temporal: { address: inject('temporalAddress') },
    api: { url: 'http://127.0.0.1:1', credentialFile: join(site.stateDir, 'site-credential') },
    datasets: site.datasets,
  }));
  const run = async (json: boolean) => {
    const ran = await parley(['site', 'releases', '--config', file, ...(json ? ['--json'] : [])]);
    expect(ran.code, ran.stderr).toBe(0);
    return linesOf(ran.stdout);
  };
  return { lines: await run(false), json: JSON.parse((await run(true)).join('\n')) as never };
}

describe('failures: no container-controlled text in what anyone can read', () => {
  it('keeps a secret an algorithm puts in its log lines and exit code out of the readable failure and the history; the site\'s key opens it', async () => {
    const { runId, handle } = start({ name: 'leak', steps: [leakStep(3)] }, 'exit');
    await handle;
    const readable = await failureOf(keylessClient(), runId);
    expect(readable.type).toBe('ERR_STEP_FAILED');
    const [firstLine] = readable.message.split(' [the rest is sealed');
    expect(firstLine).toBe(`Step "leak" failed at site "${A}": its algorithm stopped with an error (ERR_STEP_FAILED); what it reported is sealed for the site.`);
    // Nothing the container chose: not the secret, not its exit code (no digit at all).
    expect(readable.message).not.toContain(SECRET);
    expect(firstLine).not.toMatch(/[0-9]/);
    expect(await historyText(cluster.client.workflow.getHandle(runId))).not.toContain(SECRET);

    const opened = await failureOf(siteClient(A), runId);
    expect(opened.message).toContain('The algorithm exited with code 3.');
    expect(opened.message).toContain(`row ${SECRET}`);
    // Another site's key opens nothing.
    expect((await failureOf(siteClient(SITES[1]), runId)).message).not.toContain(SECRET);
    expect(await runLeftovers(docker, runId)).toEqual({ containers: 0, volumes: 0 });
  });

  it('keeps a secret an algorithm encodes in socket paths (GET /x/<secret>) and recipients out of the readable failure and the history', async () => {
    const { runId, handle } = start({ name: 'leak', steps: [leakStep(0)] }, 'path');
    await handle;
    const readable = await failureOf(keylessClient(), runId);
    expect(readable.type).toBe('ERR_STEP_PROTOCOL');
    expect(readable.message).toMatch(new RegExp(`^Step "leak" at site "${A}" broke the node-socket contract \\(ERR_STEP_PROTOCOL\\); what it asked for is sealed for the site\\. \\[the rest is sealed for "${A}"`));
    expect(readable.message).not.toContain(SECRET);
    expect(await historyText(cluster.client.workflow.getHandle(runId))).not.toContain(SECRET);

    const opened = await failureOf(siteClient(A), runId);
    expect(opened.message).toContain(`GET /x/${SECRET}`);
    expect(opened.message).toContain(`Recipient "${SECRET}"`);
  });
});

describe('small cells: the finishing site checks the total itself', () => {
  const layout = { kind: 'statistics', column: 'lab_value', decimals: 1, bins: [5, 8] };

  it('refuses a total over fewer rows than its threshold from an analysis that skipped its own check, and releases nothing', async () => {
    // One row per site: 3 in all, below the threshold of 10; every cell adds up, so only the count gives it away.
    const { runId, handle } = start(withWrittenStatistics({ layout, values: ['1', '60', '3600', '0', '1', '0'] }), 'small');
    const h = await handle;
    const failure = await failureOf(cluster.client, runId);
    expect(failure.type).toBe('ERR_DISCLOSURE_THRESHOLD');
    expect(failure.message).toMatch(/released nothing: the whole cohort's count is below the disclosure threshold of 10/);
    expect(failure.message).not.toMatch(/\b3\b/);
    const history = await historyText(h);
    expect(history).not.toContain('"outputs"');
  });

  it('refuses a vector total whose layout was relabelled to get past the check', async () => {
    const { runId, handle } = start(withWrittenStatistics({ layout: { ...layout, kind: 'anything-else' }, values: ['1', '60', '3600', '0', '1', '0'] }), 'relabel');
    await handle;
    const failure = await failureOf(cluster.client, runId);
    expect(failure.type).toBe('ERR_DISCLOSURE_THRESHOLD');
    expect(failure.message).toMatch(/not a statistics layout/);
  });
});

describe('differencing: the release ledger', () => {
  // The issue's own patient: in registry a's cohort (age ≥ 40, E11.*), at site disc-a only.
  const PATIENT = 'A100030';

  it('refuses the example chain again with one patient filtered out, at the site holding the patient, after allowing the same chain twice and one that differs by at least the threshold', async () => {
    const where = (chain.steps.find((s) => s.id === 'preprocess') as ContainerStep).args.where as unknown as Condition[];
    const cohortA = referenceCohort(await readFile(registryPath('a'), 'utf8'), where);
    expect(cohortA.rows.map((r) => r[0])).toContain(PATIENT);

    const first = start(chain, 'first');
    expect(((await (await first.handle).result()) as ChainResult).outputs.map((o) => o.step)).toEqual(['total']);
    // The same cohort again: a difference of 0 singles out no one.
    const again = start(chain, 'again');
    await (await again.handle).result();
    // Women only: 30 or more rows fewer at every site, at least the threshold away.
    const women = start(withFilter([{ column: 'sex', op: '=', value: 'F' }]), 'women');
    await (await women.handle).result();

    const narrower = start(withFilter([{ column: 'patient_id', op: '!=', value: PATIENT }]), 'narrower');
    const h = await narrower.handle;
    const failure = await failureOf(cluster.client, narrower.runId);
    expect(failure.type).toBe('ERR_DISCLOSURE_DIFFERENCE');
    expect(failure.message).toMatch(new RegExp(`^Step "preprocess" at site "${A}" formed a cohort of dataset "patients" that differs from one the site released earlier by fewer rows than its disclosure threshold of 10 \\(ERR_DISCLOSURE_DIFFERENCE\\)`));
    expect(failure.message).not.toContain(PATIENT);
    expect(failure.message).not.toContain(first.runId);
    // Nothing released: no analysis, no secure sum, no output for the researcher.
    const history = await historyText(h);
    expect(history).not.toContain('total.additive');
    expect(await runLeftovers(docker, narrower.runId)).toEqual({ containers: 0, volumes: 0 });

    // The operator sees what was released, and not the refused cohort.
    const { lines, json } = await releasesOf(A);
    const released = json.datasets.patients!;
    expect(released.map((r) => r.runId)).toEqual([first.runId, again.runId, women.runId]);
    expect(released[0]).toMatchObject({ step: 'preprocess', size: cohortA.rows.length });
    expect(released[1]!.setHash).toBe(released[0]!.setHash);
    expect(released[2]!.setHash).not.toBe(released[0]!.setHash);
    expect(lines[0]).toBe(`Site "${A}": releases (disclosure threshold 10)`);
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`run ${first.runId}  step preprocess  ${cohortA.rows.length} rows  set [0-9a-f]{16}$`)));
    expect(lines.join('\n')).not.toContain(PATIENT);
  });
});
