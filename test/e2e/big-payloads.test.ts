/**
 * Big messages on real parts — the Temporal dev server, the API with its blob store, site workers
 * with their own keys and site credentials, real sandboxed containers (the probe image): messages
 * above the blob threshold travel as blobs through the API while the history carries references
 * only; per-step limits fail a step with their own code; a run's blobs go with its retention.
 */
import { createHash, randomInt } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createApiClient } from '../../activities/api-client.ts';
import { envelopeOf } from '../../activities/blob-messages.ts';
import { apiBlobStore, type BlobStore } from '../../activities/blob-store.ts';
import { asAnalysisImage } from '../../activities/site-policy.ts';
import type { ImageRef } from '../../activities/types.ts';
import type { ChainResult, ChainStep, ContainerStep } from '../../common/chain.ts';
import { ErrorCode } from '../../common/errors.ts';
import type { EnvelopeRef } from '../../common/envelope.ts';
import { canonicalJson, createMemoryReplayGuard, openEnvelope, sealEnvelope, signSiteEnrolment, TAMPERED_MESSAGE } from '../../crypto/index.ts';
import { createFederation, federationPolicyOf, federationSigner, siteDepsOf, type Federation } from '../../demo/federation.ts';
import { startLocalCluster, type LocalCluster } from '../../demo/local-cluster.ts';
import { openChainOutputs, signedChainInput, startChain } from '../../researcher/runs.ts';
import { WorkflowName } from '../../common/workflow-names.ts';
import { exportAuditBundle } from '../../audit/export-bundle.ts';
import { createCodecApp } from '../../audit/codec/codec-app.ts';
import { openForOrg } from '../../audit/open-for-org.ts';
import { jsonOf, jsonPayload, type JsonPayload } from '../../audit/proto-payloads.ts';
import { verifyHistories } from '../../audit/verify-bundle.ts';
import { startTestApi, type TestApi } from '../support/central-parts.ts';
import { testDocker, testImages } from '../support/docker-images.ts';
import { historyText, largestPayloadBytes } from '../support/history-scan.ts';
import { runLeftovers } from '../support/run-leftovers.ts';
import { testNamespace } from '../support/test-namespace.ts';
import { createBlobDir } from '../../api/blobs/blob-dir.ts';
import { sweepRunBlobs } from '../../api/blobs/blob-retention.ts';
import { silentLogger } from '../../api/logger.ts';
import { createTemporalRunLauncher } from '../../api/runs/launcher.ts';
import { registerFederation } from '../support/register-federation.ts';

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
/** The API's collaboration of the sites: runs are signed for it, and the sites' credentials are of it. */
let collaborationId: string;
const namespace = testNamespace(import.meta.url);
/** Each site's blob store, as its worker reaches it (its own site credential). */
const stores = new Map<string, BlobStore>();

beforeAll(async () => {
  docker = testDocker();
  const images = await testImages(docker, { probe: 'test-fixtures/probe' });
  probe = { name: images.probe.ref, digest: images.probe.digest };
  stateDir = await mkdtemp(join(tmpdir(), 'parley-blobs-test-'));
  connection = await Connection.connect({ address: inject('temporalAddress') });
  // Blobs leave with the run (retention 0), but only when the test sweeps: it looks first.
  api = await startTestApi({ root: stateDir, temporal: new Client({ connection, namespace }), adminPassword: `admin-${randomInt(1e9)}`, blobRetentionMs: 0, blobSweepIntervalMs: 3_600_000 });
  federation = await createFederation({ stateDir, counts: new Map(SITES.map((org) => [org, 0n])), requester: REQUESTER });
  const registered = await registerFederation(api.admin, federation, `blobs-${randomInt(1e9)}`);
  collaborationId = registered.collaborationId;
  const sites = [];
  for (const site of federation.sites) {
    // Each site reaches the blob store with its own site credential, as `parley site start` does.
    const credential = registered.credentials.get(site.org)!;
    stores.set(site.org, apiBlobStore(createApiClient(api.server.url, credential)));
    sites.push({
      ...siteDepsOf(site, federation, docker, [asAnalysisImage(probe, true)], federation.directory, federationPolicyOf(site, federation, collaborationId)),
      blobs: stores.get(site.org)!,
      stepLimits: LIMITS,
    });
  }
  cluster = await startLocalCluster({ temporalAddress: inject('temporalAddress'), namespace, sites });
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
  const input = { chain: { name: 'blob-chain', steps }, participants: SITES, requester: REQUESTER, stepTimeoutMs: 120_000, signer: federationSigner(federation, collaborationId) };
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

/** Bytes as a blob store takes them: a stream and its length. */
function bodyOf(bytes: Uint8Array) {
  return { size: bytes.length, stream: (async function* () { yield bytes; })() };
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

    // An auditor's bundle carries the blobs; verify checks them (digest, then as envelopes:
    // signatures, binding, sequence, attestation) and open reads them, with no server.
    const { bundle } = await exportAuditBundle({
      client: cluster.client, workflowId: runId, keys: { directory: federation.directory, source: 'the federation' },
      blobs: { fetch: (run, digest, size) => api.admin.getBlob(run, digest, size), source: 'the test API' },
    });
    expect(Object.keys(bundle.blobs ?? {}).sort()).toEqual([...refs].sort());
    const report = await verifyHistories(bundle.histories, bundle.publicKeys, bundle.blobs);
    expect(report.findings).toEqual([]);
    const east = federation.sites[2]!;
    const opened = (await openForOrg(bundle.histories, east.keys, bundle.publicKeys, bundle.blobs)).filter((e) => e.to.includes(EAST));
    expect(opened.map((e) => e.status)).toEqual(Array(6).fill('opened'));
    const [one, two] = [...refs] as [string, string];
    const altered = { ...bundle.blobs, [one]: bundle.blobs![one]!.replace('"ciphertext":"', '"ciphertext":"A') };
    delete altered[two];
    const findings = (await verifyHistories(bundle.histories, bundle.publicKeys, altered)).findings.map((f) => `${f.kind}: ${f.message}`);
    expect(findings).toEqual(expect.arrayContaining([
      expect.stringMatching(new RegExp(`\\(a blob, ${one}\\) does not match its reference \\(blob-size\\)`)),
      expect.stringMatching(new RegExp(`\\(a blob, ${two}\\) is not in the bundle`)),
    ]));

    // The run has ended: its blobs go at the next sweep (retention 0 here; 7 days by default).
    expect(await api.server.sweepBlobs()).toContain(runId);
    await expect(readdir(blobDirOf(runId))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('removes, once the run has ended, a blob its history does not refer to (a superseded attempt\'s), and keeps the others until the retention', async () => {
    const { runId, handle } = await run([
      probeStep('send', { action: 'bulk', to: [EAST], count: 1, bytes: 400_000, seed: 'prune' }, { at: [NORTH] }),
      probeStep('check', { action: 'digest' }, { at: [EAST], inputs: ['send'] }),
    ]);
    await handle.result();
    const [referenced] = [...(await historyText(handle)).matchAll(/"kind":"blob","digest":"([A-Za-z0-9_-]{43})"/g)].map((m) => m[1]!);
    // What an attempt that failed after storing its message leaves: a blob of the run no reference names.
    const orphan = new TextEncoder().encode(JSON.stringify({ superseded: 'x'.repeat(1000) }));
    const orphanDigest = createHash('sha256').update(orphan).digest('base64url');
    await stores.get(NORTH)!.put(runId, orphanDigest, bodyOf(orphan));
    const files = async () => (await readdir(blobDirOf(runId))).filter((f) => f.endsWith('.blob')).sort();
    expect(await files()).toEqual([`${referenced}.blob`, `${orphanDigest}.blob`].sort());

    // The API's sweep with a retention of an hour: the run's own blobs stay for audits, the orphan goes.
    const sweep = () => sweepRunBlobs({
      blobs: createBlobDir(join(stateDir, 'server', 'blobs')), runs: createTemporalRunLauncher(new Client({ connection, namespace })),
      retentionMs: 3_600_000, now: () => new Date(), logger: silentLogger,
    });
    expect(await sweep()).not.toContain(runId);
    expect(await files()).toEqual([`${referenced}.blob`]);
    expect(await sweep()).not.toContain(runId);
    expect(await files()).toEqual([`${referenced}.blob`]);
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

  describe('a blob the store altered', () => {
    const runId = `test-blobs-tamper-${randomInt(1e9)}`;
    // The API stores blobs only for a run its sites take part in: a run of the three sites,
    // on a task queue no coordinator polls, so it stays as started while these tests store its blobs.
    beforeAll(async () => {
      const input = await signedChainInput(federationSigner(federation, collaborationId), runId, { chain: { name: 'blob-chain', steps: [probeStep('send', { action: 'digest' }, { at: [NORTH] })] }, participants: SITES, requester: REQUESTER });
      await cluster.client.workflow.start(WorkflowName.Chain, { taskQueue: `idle-${runId}`, workflowId: runId, args: [input] });
    });
    afterAll(async () => {
      await cluster.client.workflow.getHandle(runId).terminate('the tests are done');
    });
    /** A large message from north to east, sealed and stored whole as a blob, as north's worker did before bodies were detached. */
    async function storedMessage(seq: number): Promise<EnvelopeRef> {
      const north = federation.sites[0]!;
      const east = federation.sites[2]!;
      const envelope = await sealEnvelope({
        binding: { runId, step: 'send', from: NORTH, to: [EAST], seq },
        body: new TextEncoder().encode(JSON.stringify({ text: 'x'.repeat(400_000) })),
        sender: north.keys,
        recipients: [{ org: EAST, receiveJwk: east.keys.receive.publicJwk }],
      });
      const bytes = Buffer.from(canonicalJson(envelope), 'utf8');
      const digest = createHash('sha256').update(bytes).digest('base64url');
      await stores.get(NORTH)!.put(runId, digest, bodyOf(bytes));
      return { kind: 'blob', digest, size: bytes.length, binding: envelope.binding };
    }
    const refusalOf = (promise: Promise<unknown>) => promise.then(() => undefined, (e: unknown) => e as { code?: string; message?: string; details?: { reason?: string } });

    it('opens an untouched blob as the envelope it stands for', async () => {
      const ref = await storedMessage(0);
      const envelope = await envelopeOf(ref, stores.get(EAST));
      const east = federation.sites[2]!;
      const opened = await openEnvelope(envelope, {
        expect: { runId, step: 'send', recipient: EAST },
        receiveKey: east.keys.receive.privateJwk,
        senderSigningKey: async (org) => (await federation.directory.publicKeys(org))?.sign.jwk,
        replayGuard: createMemoryReplayGuard(),
      });
      expect(JSON.parse(new TextDecoder().decode(opened.body))).toEqual({ text: 'x'.repeat(400_000) });
    });

    it('refuses a blob whose bytes were changed in the store (digest mismatch), vaguely', async () => {
      const ref = await storedMessage(1);
      const file = join(blobDirOf(runId), `${ref.digest}.blob`);
      const bytes = await readFile(file);
      // One character of the ciphertext changed, the length kept.
      const at = bytes.indexOf('"ciphertext":"') + 20;
      bytes[at] = bytes[at] === 0x41 ? 0x42 : 0x41;
      await writeFile(file, bytes);
      const refusal = await refusalOf(envelopeOf(ref, stores.get(EAST)));
      expect(refusal).toMatchObject({ code: ErrorCode.EnvelopeTampered, message: TAMPERED_MESSAGE, details: { reason: 'blob-digest' } });
    });

    it('refuses the blob of another envelope under a right-looking reference', async () => {
      const [first, second] = [await storedMessage(2), await storedMessage(3)];
      // The relay keeps the reference's binding (seq 2) and points it at seq 3's blob.
      const swapped: EnvelopeRef = { ...first, digest: second.digest, size: second.size };
      const refusal = await refusalOf(envelopeOf(swapped, stores.get(EAST)));
      expect(refusal).toMatchObject({ code: ErrorCode.EnvelopeTampered, details: { reason: 'blob-binding' } });
    });

    it('refuses a reference whose size is wrong, reading no more than it names', async () => {
      const ref = await storedMessage(4);
      const refusal = await refusalOf(envelopeOf({ ...ref, size: ref.size - 1 }, stores.get(EAST)));
      expect(refusal).toMatchObject({ code: ErrorCode.EnvelopeTampered, details: { reason: 'blob-size' } });
    });

    it('says a blob is missing rather than timing out', async () => {
      const ref = await storedMessage(5);
      const refusal = await refusalOf(envelopeOf({ ...ref, digest: createHash('sha256').update('nothing').digest('base64url') }, stores.get(EAST)));
      expect(refusal).toMatchObject({ code: ErrorCode.BlobMissing });
    });

    it('lets no site of another collaboration read it, and no one store a blob under a wrong digest; an admin or auditor reads it', async () => {
      const ref = await storedMessage(6);
      const other = await api.admin.createCollaboration({ name: `blobs-other-${randomInt(1e9)}`, members: [NORTH] });
      const north = federation.sites[0]!;
      const { credential } = await api.admin.registerSite({ collaborationId: other.id, orgId: NORTH, enrolment: await signSiteEnrolment(north.keys, other.id) });
      const outsider = createApiClient(api.server.url, credential);
      await expect(outsider.getBlob(runId, ref.digest, ref.size)).rejects.toMatchObject({ status: 404 });
      // North's credential of the other collaboration does not store into this run, and no one a blob under a wrong digest.
      await expect(outsider.putBlob(runId, ref.digest, new TextEncoder().encode('not the envelope'))).rejects.toMatchObject({ status: 403 });
      await expect(stores.get(NORTH)!.put(runId, ref.digest, bodyOf(new TextEncoder().encode('not the envelope')))).rejects.toMatchObject({ status: 400 });
      // An admin reads it, as an auditor does (audit verify fetches blobs beside the history).
      await expect(api.admin.getBlob(runId, ref.digest, ref.size)).resolves.toHaveLength(ref.size);
    });

    it('shows a blob reference in the codec server as its envelope once the blob matches, and says when it does not', async () => {
      const ref = await storedMessage(7);
      const token = `codec-token-${randomInt(1e9)}-long-enough`;
      const codec = createCodecApp({ token, keys: federation.sites[2]!.keys, directory: federation.directory, blobs: (run, digest, size) => api.admin.getBlob(run, digest, size) });
      const other = await storedMessage(8);
      const response = await codec.request('/decode', {
        method: 'POST',
        headers: { Host: '127.0.0.1:8081', 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
        body: JSON.stringify({ payloads: [jsonPayload({ envelopes: [ref, { ...ref, digest: other.digest, size: other.size }] })] }),
      });
      expect(response.status).toBe(200);
      const [shown] = ((await response.json()) as { payloads: JsonPayload[] }).payloads.map(jsonOf) as Array<{ envelopes: Array<{ parleyBlob: { check: string; envelope?: { parleyEnvelope: { signature: string; opened?: { content: unknown } } } } }> }>;
      const [good, swapped] = shown!.envelopes;
      expect(good!.parleyBlob.check).toBe('matches');
      expect(good!.parleyBlob.envelope!.parleyEnvelope.signature).toBe('verified');
      expect(good!.parleyBlob.envelope!.parleyEnvelope.opened!.content).toEqual({ text: 'x'.repeat(400_000) });
      expect(swapped!.parleyBlob).toEqual({ digest: other.digest, size: other.size, binding: ref.binding, check: 'blob-binding' });
    });
  });
});
