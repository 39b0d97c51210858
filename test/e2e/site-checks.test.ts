/**
 * The attacks of issue 12 on real parts — the Temporal dev server, site workers with their own
 * keys and policies, the Docker engine — each refused at the site before any container starts,
 * and nothing released:
 *
 * - a curious central operator (anyone with a Temporal connection) who starts the chain workflow
 *   with a manifest of its own, or hands a site a step request directly from a workflow of its
 *   own, skipping the coordinator;
 * - a relay that alters a run after the researcher signed it;
 * - a researcher whose chain builds a two-site ring out of plain container steps, picks a small
 *   modulus, or reads a dataset its collaboration may not.
 */
import { randomInt } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NativeConnection, Worker } from '@temporalio/worker';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { ChainSpec, ChainStep } from '../../common/chain.ts';
import { ErrorCode } from '../../common/errors.ts';
import { COORDINATOR_TASK_QUEUE, WorkflowName } from '../../common/workflow-names.ts';
import { generateOrgKeys, publicKeysOf, signRunManifest, type OrgKeys } from '../../crypto/index.ts';
import { MANIFEST_VERSION } from '../../common/run-manifest.ts';
import { publishPublicKeys } from '../../activities/key-directory.ts';
import type { StepRequest } from '../../activities/types.ts';
import { NO_PRIVACY_POLICY } from '../../activities/site-policy.ts';
import { LOCAL_COLLABORATION, createFederation, federationSigner, siteDepsOf, type Federation } from '../../demo/federation.ts';
import { exampleAllowList, exampleChain, exampleRegistryFile } from '../../demo/example-chain.ts';
import { startLocalCluster, type LocalCluster } from '../../demo/local-cluster.ts';
import { ensureExampleImages, type ExampleImages } from '../../provision/images.ts';
import { createDockerClient } from '../../provision/docker-engine.ts';
import { signedChainInput, startChain } from '../../researcher/runs.ts';
import { historyText } from '../support/history-scan.ts';
import { runLeftovers } from '../support/run-leftovers.ts';
import { testNamespace } from '../support/test-namespace.ts';

const SITES = ['check-north', 'check-south', 'check-east'];
const REQUESTER = 'check-lab';
const ATTACKER_QUEUE = `attacker-${randomInt(1e9)}`;

let docker: Docker;
let stateDir: string;
let images: ExampleImages;
let federation: Federation;
let cluster: LocalCluster;
let attackerConnection: NativeConnection;
let attacker: Worker;
let attacking: Promise<void>;
let chain: ChainSpec;
/** The central operator's organisation, with its published keys. */
let operator: OrgKeys;

beforeAll(async () => {
  docker = createDockerClient();
  images = await ensureExampleImages(docker, () => {});
  stateDir = await mkdtemp(join(tmpdir(), 'parley-site-checks-'));
  const files = new Map(SITES.map((org, i) => [org, { patients: exampleRegistryFile('abc'[i]!) }]));
  federation = await createFederation({ stateDir, counts: new Map(SITES.map((org) => [org, 41n])), requester: REQUESTER, files });
  // The central operator's organisation has keys like anyone; the sites admit only the researcher.
  operator = await generateOrgKeys('check-central');
  await publishPublicKeys(federation.directoryDir, publicKeysOf(operator));
  cluster = await startLocalCluster({
    temporalAddress: inject('temporalAddress'),
    namespace: testNamespace(import.meta.url),
    sites: federation.sites.map((site) => siteDepsOf(site, federation, docker, exampleAllowList(images), federation.directory, {
      // Each site lets the collaboration read its patients, and nothing else (not its count dataset).
      collaborations: { [LOCAL_COLLABORATION]: { requesters: [REQUESTER], datasets: ['patients'] } },
      minSites: 3,
      minModulus: 1n << 64n,
      privacy: NO_PRIVACY_POLICY,
    })),
  });
  chain = await exampleChain(images, SITES);
  attackerConnection = await NativeConnection.connect({ address: inject('temporalAddress') });
  attacker = await Worker.create({
    connection: attackerConnection,
    namespace: cluster.namespace,
    taskQueue: ATTACKER_QUEUE,
    workflowsPath: fileURLToPath(new URL('../support/attacker-workflows.ts', import.meta.url)),
  });
  attacking = attacker.run();
});

afterAll(async () => {
  attacker?.shutdown();
  await attacking;
  await attackerConnection?.close();
  await cluster?.shutdown();
  if (stateDir) await rm(stateDir, { recursive: true, force: true });
});

/** The failure at the bottom of a failed run: a site's refusal arrives as the activity's cause. */
async function refusalOf(handle: WorkflowHandle): Promise<{ type?: string; message: string }> {
  const err = await handle.result().then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(WorkflowFailedError);
  const cause = (err as WorkflowFailedError).cause as { type?: string; message: string; cause?: { type?: string; message: string } };
  return cause.cause ?? cause;
}

/** Starts the chain workflow the way the coordinator's clients do, with `input` as given. */
function startRaw(runId: string, input: unknown): Promise<WorkflowHandle> {
  return cluster.client.workflow.start(WorkflowName.Chain, { taskQueue: COORDINATOR_TASK_QUEUE, workflowId: runId, args: [input], workflowExecutionTimeout: '5 minutes' });
}

/** A step request straight to `org`'s task queue, from the attacker's own workflow. */
function runStepDirectly(runId: string, org: string, request: StepRequest): Promise<WorkflowHandle> {
  return cluster.client.workflow.start('runStepDirectlyWorkflow', { taskQueue: ATTACKER_QUEUE, workflowId: runId, args: [org, request], workflowExecutionTimeout: '5 minutes' });
}

/** The preprocess step at the first site, as the example chain implies it. */
function preprocessRequest(runId: string, manifest: string, overrides: Partial<StepRequest> = {}): StepRequest {
  const step = chain.steps[0]!;
  if (step.kind !== 'container') throw new TypeError('the example chain starts with a container step');
  return {
    runId, step: step.id, org: SITES[0]!, image: step.image, datasets: step.datasets, args: step.args as StepRequest['args'],
    participants: SITES, requester: REQUESTER, inputs: [], seqStart: 0, timeoutMs: 60_000, manifest, ...overrides,
  };
}

async function expectNothingLeft(runId: string): Promise<void> {
  expect(await runLeftovers(docker, runId)).toEqual({ containers: 0, volumes: 0 });
  // No site ran a container: nothing of any site's data, not even an attestation, is in the history.
  expect(await historyText(cluster.client.workflow.getHandle(runId))).not.toMatch(/attestation/);
}

describe('a site runs only what the requester signed and its own policy allows', () => {
  it('refuses the chain workflow started straight on Temporal by the central operator, in the researcher\'s name', async () => {
    const runId = `test-forged-${randomInt(1e9)}`;
    // A manifest that says everything the researcher would have said, signed by another key.
    const unsigned = { chain, participants: SITES, requester: REQUESTER };
    const genuine = await signedChainInput(federationSigner(federation), runId, unsigned);
    const claims = JSON.parse(Buffer.from(genuine.manifest.split('.')[1]!, 'base64url').toString('utf8'));
    const forged = await signRunManifest(claims, operator.sign.privateJwk);
    const failure = await refusalOf(await startRaw(runId, { ...unsigned, manifest: forged }));
    expect(failure.type).toBe(ErrorCode.ManifestInvalid);
    expect(failure.message).toMatch(/does not verify with "check-lab"'s signing key/);
    await expectNothingLeft(runId);
  });

  it('refuses the central operator\'s own run in a collaboration the sites admit only the researcher to', async () => {
    const runId = `test-own-run-${randomInt(1e9)}`;
    const now = Date.now();
    const manifest = await signRunManifest({
      v: MANIFEST_VERSION, runId, collaboration: LOCAL_COLLABORATION, requester: 'check-central', participants: SITES,
      plan: { kind: 'chain', chain }, createdAt: new Date(now).toISOString(), expiresAt: new Date(now + 600_000).toISOString(),
    }, operator.sign.privateJwk);
    const failure = await refusalOf(await startRaw(runId, { chain, participants: SITES, requester: 'check-central', manifest }));
    expect(failure.type).toBe(ErrorCode.RunNotAdmitted);
    await expectNothingLeft(runId);
  });

  it('refuses a step handed to a site directly, skipping the coordinator, with no manifest', async () => {
    const runId = `test-direct-${randomInt(1e9)}`;
    const failure = await refusalOf(await runStepDirectly(runId, SITES[0]!, preprocessRequest(runId, 'not-a-manifest')));
    expect(failure.type).toBe(ErrorCode.ManifestInvalid);
    await expectNothingLeft(runId);
  });

  it('refuses a step the signed chain does not imply: the preprocess filter dropped by a relay', async () => {
    const runId = `test-altered-${randomInt(1e9)}`;
    const { manifest } = await signedChainInput(federationSigner(federation), runId, { chain, participants: SITES, requester: REQUESTER });
    const failure = await refusalOf(await runStepDirectly(runId, SITES[0]!, preprocessRequest(runId, manifest, { args: { ...(chain.steps[0]!.kind === 'container' ? chain.steps[0]!.args : {}), where: [] } })));
    expect(failure.type).toBe(ErrorCode.StepNotInManifest);
    await expectNothingLeft(runId);
  });

  it('refuses a genuine manifest replayed in another workflow', async () => {
    const signedFor = `test-genuine-${randomInt(1e9)}`;
    const { manifest } = await signedChainInput(federationSigner(federation), signedFor, { chain, participants: SITES, requester: REQUESTER });
    const runId = `test-replayed-${randomInt(1e9)}`;
    const failure = await refusalOf(await runStepDirectly(runId, SITES[0]!, preprocessRequest(signedFor, manifest)));
    expect(failure.type).toBe(ErrorCode.ManifestInvalid);
    expect(failure.message).toMatch(/signed for run/);
    await expectNothingLeft(runId);
  });

  it('refuses a researcher\'s two-site ring built from plain container steps of the secure-sum image', async () => {
    const runId = `test-by-hand-${randomInt(1e9)}`;
    const asContainer = (id: string, at: string, role: string, more: Partial<ChainStep> = {}): ChainStep => ({
      kind: 'container', id, image: images.secureSum, at: [at], datasets: [], args: { role, next: SITES[1]!, modulus: '18446744073709551616' }, after: [], inputs: [], ...more,
    } as ChainStep);
    const byHand: ChainSpec = { name: 'two-site-ring', steps: [asContainer('start', SITES[0]!, 'start'), asContainer('finish', SITES[0]!, 'finish', { after: ['start'] })] };
    const failure = await refusalOf(await startChain(cluster.client, { chain: byHand, participants: SITES, requester: REQUESTER, signer: federationSigner(federation) }, runId));
    expect(failure.type).toBe(ErrorCode.ImageRoleNotAllowed);
    expect(failure.message).toMatch(/only as a protocol image/);
    await expectNothingLeft(runId);
  });

  it('refuses a secure sum over a small modulus at every site, before any value is read', async () => {
    const runId = `test-modulus-${randomInt(1e9)}`;
    const small: ChainSpec = { ...chain, steps: chain.steps.map((s) => (s.kind === 'secure-sum' ? { ...s, modulus: '1000003' } : s)) };
    const failure = await refusalOf(await startChain(cluster.client, { chain: small, participants: SITES, requester: REQUESTER, signer: federationSigner(federation) }, runId));
    expect(failure.type).toBe(ErrorCode.ReleaseRefused);
    expect(await runLeftovers(docker, runId)).toEqual({ containers: 0, volumes: 0 });
  });

  it('refuses a dataset the collaboration may not read, though the site has it', async () => {
    const runId = `test-dataset-${randomInt(1e9)}`;
    const other: ChainSpec = { ...chain, steps: chain.steps.map((s) => (s.kind === 'container' && s.id === 'preprocess' ? { ...s, datasets: ['registry'] } : s)) };
    const failure = await refusalOf(await startChain(cluster.client, { chain: other, participants: SITES, requester: REQUESTER, signer: federationSigner(federation) }, runId));
    expect(failure.type).toBe(ErrorCode.RunNotAdmitted);
    expect(failure.message).toMatch(/does not let collaboration "local" read dataset "registry"/);
    await expectNothingLeft(runId);
  });
});
