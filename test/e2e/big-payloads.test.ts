/**
 * Big messages on real parts — the Temporal dev server, the API with its blob store, site workers
 * with their own keys and site credentials, real sandboxed containers (the probe image): messages
 * above the blob threshold travel as blobs through the API while the history carries references
 * only; per-step limits fail a step with their own code; a run's blobs go with its retention.
 */
import { createHash, randomInt } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createApiClient } from '../../activities/api-client.ts';
import { apiBlobStore } from '../../activities/blob-store.ts';
import { asAnalysisImage } from '../../activities/site-policy.ts';
import type { ImageRef } from '../../activities/types.ts';
import type { ChainResult, ChainStep, ContainerStep } from '../../common/chain.ts';
import { ErrorCode } from '../../common/errors.ts';
import { publicKeysOf, signSiteEnrolment } from '../../crypto/index.ts';
import { createFederation, federationSigner, siteDepsOf, type Federation } from '../../demo/federation.ts';
import { startLocalCluster, type LocalCluster } from '../../demo/local-cluster.ts';
import { openChainOutputs, startChain } from '../../researcher/runs.ts';
import { startTestApi, type TestApi } from '../support/central-parts.ts';
import { testDocker, testImages } from '../support/docker-images.ts';
import { historyText, largestPayloadBytes } from '../support/history-scan.ts';
import { runLeftovers } from '../support/run-leftovers.ts';

const [NORTH, SOUTH, EAST] = ['blob-north', 'blob-south', 'blob-east'] as const;
const SITES = [NORTH, SOUTH, EAST];
const REQUESTER = 'blob-lab';
const MiB = 1024 * 1024;
/** The sites' limits: room for the big test's 10 MiB message, and small enough to reach in a test. */
const LIMITS = { sendBytes: 12 * MiB, messages: 8 };

let docker: Docker;
let stateDir: string;
let federation: Federation;
let connection: Connection;
let api: TestApi;
let cluster: LocalCluster;
let probe: ImageRef;

beforeAll(async () => {
  docker = testDocker();
  const images = await testImages(docker, { probe: 'test-fixtures/probe' });
  probe = { name: images.probe.ref, digest: images.probe.digest };
  stateDir = await mkdtemp(join(tmpdir(), 'parley-blobs-test-'));
  connection = await Connection.connect({ address: inject('temporalAddress') });
  // Blobs leave with the run (retention 0), but only when the test sweeps: it looks first.
  api = await startTestApi({ root: stateDir, temporal: new Client({ connection }), adminPassword: `admin-${randomInt(1e9)}`, blobRetentionMs: 0, blobSweepIntervalMs: 3_600_000 });
  federation = await createFederation({ stateDir, counts: new Map(SITES.map((org) => [org, 0n])), requester: REQUESTER });
  for (const member of [...federation.sites, federation.requester]) {
    await api.admin.createOrganisation({ id: member.org, name: member.org, keys: publicKeysOf(member.keys) });
  }
  const { id: collaborationId } = await api.admin.createCollaboration({ name: `blobs-${randomInt(1e9)}`, members: [...SITES, REQUESTER] });
  const sites = [];
  for (const site of federation.sites) {
    // Each site reaches the blob store with its own site credential, as `parley site start` does.
    const { credential } = await api.admin.registerSite({ collaborationId, orgId: site.org, enrolment: await signSiteEnrolment(site.keys, collaborationId) });
    sites.push({
      ...siteDepsOf(site, federation, docker, [asAnalysisImage(probe, true)]),
      blobs: apiBlobStore(createApiClient(api.server.url, credential)),
      stepLimits: LIMITS,
    });
  }
  cluster = await startLocalCluster({ temporalAddress: inject('temporalAddress'), sites });
}, 300_000);

afterAll(async () => {
  await cluster?.shutdown();
  await api?.server.close();
  await connection?.close();
  if (stateDir) await rm(stateDir, { recursive: true, force: true });
});

function probeStep(id: string, args: ContainerStep['args'], more: Partial<ContainerStep> = {}): ContainerStep {
  return { kind: 'container', id, image: probe, datasets: [], args, after: [], inputs: [], ...more };
}

async function run(steps: ChainStep[]) {
  const runId = `test-blobs-${randomInt(1e9)}`;
  const input = { chain: { name: 'blob-chain', steps }, participants: SITES, requester: REQUESTER, stepTimeoutMs: 120_000, signer: federationSigner(federation) };
  return { runId, handle: await startChain(cluster.client, input, runId) };
}

/** What the probe's `bulk` sends as message `i` to `to`: the same text, made here. */
function bulkUnit(seed: string, to: string, i: number): string {
  return createHash('sha256').update(`${seed}/${to}/${i}`).digest('hex');
}
function bulkSha256(seed: string, to: string, i: number, bytes: number): string {
  const unit = bulkUnit(seed, to, i);
  return createHash('sha256').update(unit.repeat(Math.ceil(bytes / unit.length)).slice(0, bytes)).digest('hex');
}

const blobDirOf = (runId: string) => join(stateDir, 'server', 'blobs', runId);

async function failureOf(promise: Promise<unknown>): Promise<{ type?: string; message: string }> {
  const err = await promise.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(WorkflowFailedError);
  const cause = (err as WorkflowFailedError).cause as { type?: string; message: string; cause?: { type?: string; message: string } };
  return cause.cause ?? cause;
}

describe('big payloads', () => {
  it('carries five 900 KB messages and one of 10 MiB through the blob store, with only references in the history and no plaintext anywhere, and removes the blobs with the run', async () => {
    const seed = `seed-${randomInt(1e9)}`;
    const { runId, handle } = await run([
      probeStep('many', { action: 'bulk', to: [EAST], count: 5, bytes: 900_000, seed }, { at: [NORTH] }),
      probeStep('huge', { action: 'bulk', to: [EAST], count: 1, bytes: 10 * MiB, seed }, { at: [SOUTH] }),
      probeStep('check', { action: 'digest' }, { at: [EAST], inputs: ['many', 'huge'] }),
    ]);
    const result = (await handle.result()) as ChainResult;
    const outputs = await openChainOutputs(result, federation.requester, federation.directory);

    // East opened every message intact: length and SHA-256 as the senders made them.
    const check = outputs.find((o) => o.step === 'check')!.content as { inputs: Array<{ from: string; i: number; length: number; sha256: string }> };
    const got = check.inputs.map(({ from, i, length, sha256 }) => ({ from, i, length, sha256 })).sort((a, b) => a.from.localeCompare(b.from) || a.i - b.i);
    expect(got).toEqual([
      ...[0, 1, 2, 3, 4].map((i) => ({ from: NORTH, i, length: 900_000, sha256: bulkSha256(seed, EAST, i, 900_000) })),
      { from: SOUTH, i: 0, length: 10 * MiB, sha256: bulkSha256(seed, EAST, 0, 10 * MiB) },
    ]);

    // The history holds references, not envelopes: no payload near Temporal's limits.
    expect(await largestPayloadBytes(handle)).toBeLessThan(512 * 1024);
    const history = await historyText(handle);
    expect(history).toContain('"kind":"blob"');

    // Six references, each to a blob in the store (a retried step may have left more, removed
    // with the run), and every blob ciphertext: no message's text, in the history or the store.
    const refs = new Set([...history.matchAll(/"kind":"blob","digest":"([A-Za-z0-9_-]{43})"/g)].map((m) => m[1]));
    expect(refs.size).toBe(6);
    const files = (await readdir(blobDirOf(runId))).filter((f) => f.endsWith('.blob'));
    for (const digest of refs) expect(files).toContain(`${digest}.blob`);
    const units = [...[0, 1, 2, 3, 4].map((i) => bulkUnit(seed, EAST, i)), bulkUnit(seed, EAST, 0)];
    for (const unit of units) expect(history).not.toContain(unit);
    for (const file of files) {
      const text = await readFile(join(blobDirOf(runId), file), 'utf8');
      for (const unit of units) expect(text).not.toContain(unit);
    }
    expect(await runLeftovers(docker, runId)).toEqual({ containers: 0, volumes: 0 });

    // The run has ended: its blobs go at the next sweep (retention 0 here; 7 days by default).
    expect(await api.server.sweepBlobs()).toContain(runId);
    await expect(readdir(blobDirOf(runId))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('keeps small messages inline', async () => {
    const { handle } = await run([
      probeStep('small', { action: 'bulk', to: [EAST], count: 2, bytes: 1000, seed: 'x' }, { at: [NORTH] }),
      probeStep('check', { action: 'digest' }, { at: [EAST], inputs: ['small'] }),
    ]);
    await handle.result();
    const history = await historyText(handle);
    expect(history).not.toContain('"kind":"blob"');
  });

  it('fails a step that sends more messages than its site allows with ERR_STEP_MESSAGES_LIMIT, naming the setting', async () => {
    const { runId, handle } = await run([
      probeStep('flood', { action: 'bulk', to: [EAST], count: LIMITS.messages + 1, bytes: 10, seed: 'x' }, { at: [NORTH] }),
      probeStep('check', { action: 'digest' }, { at: [EAST], inputs: ['flood'] }),
    ]);
    const failure = await failureOf(handle.result());
    expect(failure.type).toBe(ErrorCode.StepMessagesLimit);
    expect(failure.message).toContain(`Step "flood" at site "${NORTH}" tried to send more than ${LIMITS.messages} messages`);
    expect(failure.message).toContain('limits.stepMessages');
    expect(await runLeftovers(docker, runId)).toEqual({ containers: 0, volumes: 0 });
  });

  it('fails a step that sends more bytes than its site allows with ERR_STEP_BYTES_LIMIT, naming the setting, and sends none of it', async () => {
    const { runId, handle } = await run([
      probeStep('heavy', { action: 'bulk', to: [EAST], count: 2, bytes: 7 * MiB, seed: 'x' }, { at: [NORTH] }),
      probeStep('check', { action: 'digest' }, { at: [EAST], inputs: ['heavy'] }),
    ]);
    const failure = await failureOf(handle.result());
    expect(failure.type).toBe(ErrorCode.StepBytesLimit);
    expect(failure.message).toContain(`tried to send more than ${LIMITS.sendBytes} bytes of messages`);
    expect(failure.message).toContain('limits.stepSendBytes');
    // Nothing of the step was sealed, so nothing was stored.
    await expect(readdir(blobDirOf(runId))).rejects.toMatchObject({ code: 'ENOENT' });
    const outcomes = (await handle.fetchHistory()).events?.filter((e) => e.activityTaskCompletedEventAttributes) ?? [];
    expect(outcomes.length).toBe(3); // the endRun of each site, and no step
  });

  it('fails a single message larger than the site\'s byte limit with ERR_STEP_BYTES_LIMIT too, never a timeout', async () => {
    const { handle } = await run([
      probeStep('giant', { action: 'bulk', to: [EAST], count: 1, bytes: LIMITS.sendBytes + 1, seed: 'x' }, { at: [NORTH] }),
      probeStep('check', { action: 'digest' }, { at: [EAST], inputs: ['giant'] }),
    ]);
    const failure = await failureOf(handle.result());
    expect(failure.type).toBe(ErrorCode.StepBytesLimit);
  });
});
