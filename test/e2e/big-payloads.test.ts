/**
 * Big messages on real parts — the Temporal dev server, the API with its blob store, site workers
 * with their own keys and site credentials, real sandboxed containers (the probe image): a message
 * above the blob threshold travels as a small envelope in the history, its body sealed as a stream
 * and detached into the API's blob store; an auditor's bundle carries those sealed bodies beside
 * it, verify checks them with public keys only and open decrypts them, and a swapped, cut or
 * missing body is named; per-step limits fail a step with their own code; a run's blobs go with
 * its retention. Histories from before carry `{ kind: 'blob' }` references to whole envelopes:
 * those are built by hand here, and still open.
 */
import { createHash, randomInt } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createApiClient } from '../../activities/api-client.ts';
import { envelopeOf, writeDetachedBody } from '../../activities/blob-messages.ts';
import { apiBlobStore, type BlobStore } from '../../activities/blob-store.ts';
import { asAnalysisImage } from '../../activities/site-policy.ts';
import type { ImageRef } from '../../activities/types.ts';
import type { ChainResult, ChainStep, ContainerStep } from '../../common/chain.ts';
import { ErrorCode } from '../../common/errors.ts';
import type { Envelope, EnvelopeRef } from '../../common/envelope.ts';
import { writeFileAtomically } from '../../common/write-file-atomically.ts';
import { canonicalJson, createMemoryReplayGuard, envelopeDigest, newFileKey, openEnvelope, sealBodyStream, sealEnvelope, signSiteEnrolment, TAMPERED_MESSAGE } from '../../crypto/index.ts';
import { createFederation, federationPolicyOf, federationSigner, siteDepsOf, type Federation } from '../../demo/federation.ts';
import { startLocalCluster, type LocalCluster } from '../../demo/local-cluster.ts';
import { openChainOutputs, signedChainInput, startChain } from '../../researcher/runs.ts';
import { WorkflowName } from '../../common/workflow-names.ts';
import type { AuditBundle } from '../../audit/audit-bundle.ts';
import { bodiesDirectoryBeside } from '../../audit/bundle-bodies.ts';
import { bundleText, exportAuditBundle } from '../../audit/export-bundle.ts';
import { createCodecApp } from '../../audit/codec/codec-app.ts';
import type { EnvelopeView } from '../../audit/codec/describe-envelope.ts';
import { envelopesInHistories } from '../../audit/history-envelopes.ts';
import type { OpenedEntry } from '../../audit/open-for-org.ts';
import { jsonOf, jsonPayload, type JsonPayload } from '../../audit/proto-payloads.ts';
import { parley } from '../support/parley-cli.ts';
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
  auditDir = join(stateDir, 'audit');
  await mkdir(auditDir);
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
const east = () => federation.sites[2]!;

/** Each detached body a history's envelopes name: digest → size (the clear reference, in the history's JSON). */
function detachedRefsIn(history: string): Map<string, number> {
  return new Map([...history.matchAll(/"detached":\{"digest":"([A-Za-z0-9_-]{43})","size":(\d+)\}/g)].map((m) => [m[1]!, Number(m[2])]));
}

/** Where the auditor's bundles go, as `parley audit export -o <auditDir>/<name>.audit.json` writes them. */
let auditDir: string;

/** `parley audit export --api` as an auditor (the API's admin reads blobs as one): the bundle file, its bodies beside it. */
async function exportBundle(runId: string, name: string, bodies?: 'without') {
  const file = join(auditDir, `${name}.audit.json`);
  const { bundle } = await exportAuditBundle({
    client: cluster.client, workflowId: runId, keys: { directory: federation.directory, source: 'the federation' },
    blobs: { fetch: (r, digest, size) => api.admin.getBlob(r, digest, size), stream: (r, digest, size) => api.admin.getBlobStream(r, digest, size), source: 'the test API' },
    bodies: bodies ?? { directory: bodiesDirectoryBeside(file) },
  });
  await writeFileAtomically(file, bundleText(bundle));
  return { file, bundle };
}

/** `parley audit verify <file> --json`: no key but the bundle's public ones. */
async function verifyFile(file: string): Promise<{ code: number | null; findings: string[] }> {
  const ran = await parley(['audit', 'verify', file, '--json'], { env: {} });
  const report = JSON.parse(ran.stdout) as { findings: Array<{ kind: string; message: string }> };
  return { code: ran.code, findings: report.findings.map((f) => `${f.kind}: ${f.message}`) };
}

/** `parley audit open <file> --key <site's key file> --json`. */
async function openFile(file: string, site: { keyFile: string }): Promise<{ code: number | null; entries: OpenedEntry[] }> {
  const ran = await parley(['audit', 'open', file, '--key', site.keyFile, '--json'], { env: {} });
  return { code: ran.code, entries: ran.stdout.trim().split('\n').filter(Boolean).map((line) => JSON.parse(line) as OpenedEntry) };
}

/** The distinct envelopes of a bundle's histories. */
function bundleEnvelopes(bundle: AuditBundle): Envelope[] {
  return [...new Map(envelopesInHistories(bundle.histories.map((h) => h.history)).map((e) => [envelopeDigest(e as never), e as unknown as Envelope])).values()];
}

/** What the codec server shows for each envelope, in order. */
const CODEC_TOKEN = `codec-token-${randomInt(1e9)}-long-enough`;
async function codecViews(codec: ReturnType<typeof createCodecApp>, envelopes: Envelope[]): Promise<Array<EnvelopeView['parleyEnvelope']>> {
  const response = await codec.request('/decode', {
    method: 'POST',
    headers: { Host: '127.0.0.1:8081', 'Content-Type': 'application/json', Authorization: `Bearer ${CODEC_TOKEN}` },
    body: JSON.stringify({ payloads: [jsonPayload({ envelopes })] }),
  });
  expect(response.status).toBe(200);
  const [shown] = ((await response.json()) as { payloads: JsonPayload[] }).payloads.map(jsonOf) as Array<{ envelopes: EnvelopeView[] }>;
  return shown!.envelopes.map((e) => e.parleyEnvelope);
}

async function failureOf(promise: Promise<unknown>): Promise<{ type?: string; message: string }> {
  const err = await promise.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(WorkflowFailedError);
  const cause = (err as WorkflowFailedError).cause as { type?: string; message: string; cause?: { type?: string; message: string } };
  return cause.cause ?? cause;
}

describe('big payloads', () => {
  it('carries five 900 KB messages and one of 10 MiB with their bodies detached through the blob store, small envelopes in the history and no plaintext anywhere, and removes the blobs with the run', async () => {
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

    // The history holds small envelopes naming their bodies, no older blob reference, and no
    // payload near Temporal's limits.
    expect(await largestPayloadBytes(handle)).toBeLessThan(512 * 1024);
    const history = await historyText(handle);
    expect(history).not.toContain('"kind":"blob"');

    // Six detached bodies, each in the store (a retried step may have left more, removed with
    // the run), and every one ciphertext: no message's text, in the history or the store.
    const refs = detachedRefsIn(history);
    expect(refs.size).toBe(6);
    const files = (await readdir(blobDirOf(runId))).filter((f) => f.endsWith('.blob'));
    for (const digest of refs.keys()) expect(files).toContain(`${digest}.blob`);
    const units = [...[0, 1, 2, 3, 4].map((i) => bulkUnit(seed, EAST, i)), bulkUnit(seed, EAST, 0)];
    for (const unit of units) expect(history).not.toContain(unit);
    for (const file of files) {
      const text = await readFile(join(blobDirOf(runId), file), 'latin1');
      for (const unit of units) expect(text).not.toContain(unit);
    }
    expect(await runLeftovers(docker, runId)).toEqual({ containers: 0, volumes: 0 });

    // An auditor's bundle carries the sealed bodies beside it, checked on the way; verify checks
    // them against their signed references with public keys only, and open decrypts them for
    // east — with no server, from the files.
    const { file, bundle } = await exportBundle(runId, 'run');
    expect(bundle.bodiesDirectory).toBe('run.audit.bodies');
    expect((await readdir(join(auditDir, 'run.audit.bodies'))).sort()).toEqual([...refs.keys()].sort());
    const bundleText = await readFile(file, 'utf8');
    for (const unit of units) expect(bundleText).not.toContain(unit);
    expect(await verifyFile(file)).toEqual({ code: 0, findings: [] });
    const opened = await openFile(file, east());
    expect(opened.code).toBe(0);
    const texts = opened.entries.filter((e) => e.to.includes(EAST)).map((e) => {
      expect(e.status).toBe('opened');
      const { i, text } = e.content as { i: number; text: string };
      return { from: e.from, i, length: text.length, sha256: createHash('sha256').update(text).digest('hex') };
    }).sort((a, b) => a.from.localeCompare(b.from) || a.i - b.i);
    expect(texts).toEqual(got);

    // The codec server, with east's key and the API's blobs, shows a 900 KB message opened,
    // and the 10 MiB one as its reference only (too large for a page).
    const codec = createCodecApp({ token: CODEC_TOKEN, keys: east().keys, directory: federation.directory, blobs: (r, digest, size) => api.admin.getBlob(r, digest, size) });
    const envelopes = bundleEnvelopes(bundle).filter((e) => e.detached !== undefined);
    const views = await codecViews(codec, envelopes);
    expect(views.filter((v) => v.opened !== undefined).map((v) => v.from).sort()).toEqual(Array(5).fill(NORTH));
    const huge = views.find((v) => v.from === SOUTH)!;
    expect(huge.detached!.size).toBe(refs.get(huge.detached!.digest));
    expect(huge.opened).toBeUndefined();
    expect(huge.notOpened).toContain('parley audit open');

    // The run has ended: its blobs go at the next sweep (retention 0 here; 7 days by default).
    // Exporting after that says so, naming the run and what to do.
    expect(await api.server.sweepBlobs()).toContain(runId);
    await expect(readdir(blobDirOf(runId))).rejects.toMatchObject({ code: 'ENOENT' });
    const late = await exportBundle(runId, 'late').then(() => undefined, (e: unknown) => e as { code?: string; message: string });
    expect(late).toMatchObject({ code: ErrorCode.BlobMissing, message: expect.stringContaining(`of run "${runId}" is not at the test API: it was removed with the run's retention`) });
    await expect(readFile(join(auditDir, 'late.audit.json'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  describe('an auditor\'s bundle whose bodies were tampered with', () => {
    /** A run of two 400 KB messages from north: to east (seq 0), and to east and south (seq 1): same length, so one can stand for the other. */
    let runId: string;
    let file: string;
    let refs: Map<string, number>;
    beforeAll(async () => {
      const started = await run([
        probeStep('send', { action: 'bulk', to: [EAST], count: 1, bytes: 400_000, seed: 'tamper-a' }, { at: [NORTH] }),
        probeStep('send2', { action: 'bulk', to: [EAST], count: 1, bytes: 400_000, seed: 'tamper-b' }, { at: [SOUTH] }),
        probeStep('check', { action: 'digest' }, { at: [EAST], inputs: ['send', 'send2'] }),
      ]);
      runId = started.runId;
      await started.handle.result();
      refs = detachedRefsIn(await historyText(started.handle));
      expect(refs.size).toBe(2);
      ({ file } = await exportBundle(runId, 'tamper'));
    }, 300_000);
    const bodyFile = (digest: string) => join(auditDir, 'tamper.audit.bodies', digest);
    /** Runs `change` on the bundle's bodies, then puts them back. */
    async function withBodies(change: (a: string, b: string) => Promise<void>, look: () => Promise<void>) {
      const [a, b] = [...refs.keys()] as [string, string];
      const kept = await Promise.all([readFile(bodyFile(a)), readFile(bodyFile(b))]);
      try {
        await change(a, b);
        await look();
      } finally {
        await writeFile(bodyFile(a), kept[0]);
        await writeFile(bodyFile(b), kept[1]);
      }
    }

    it('verifies, with public keys only, a body swapped for another genuine sealed body of the same length as not the one signed; east refuses to open it', async () => {
      await withBodies(async (a, b) => writeFile(bodyFile(a), await readFile(bodyFile(b))), async () => {
        const [a] = [...refs.keys()] as [string];
        const verified = await verifyFile(file);
        expect(verified.code).toBe(1);
        expect(verified.findings).toEqual([expect.stringMatching(new RegExp(`^body: the sealed body of envelope seq 0 from "[\\w-]+" \\(${a}, ${refs.get(a)} bytes\\) is not the one its sender signed \\(its SHA-256 differs\\)`))]);
        const opened = await openFile(file, east());
        expect(opened.code).toBe(1);
        expect(opened.entries.filter((e) => e.status === 'refused').map((e) => e.problem)).toEqual([`${ErrorCode.EnvelopeTampered} (body-digest)`]);
        expect(opened.entries.filter((e) => e.status === 'opened')).toHaveLength(1);
      });
    });

    it('catches a body cut short (at a chunk boundary) or left out, and opens neither', async () => {
      await withBodies(async (a, b) => {
        await writeFile(bodyFile(a), (await readFile(bodyFile(a))).subarray(0, 16 + 2 * (64 * 1024 + 16)));
        await rm(bodyFile(b));
      }, async () => {
        const [a, b] = [...refs.keys()] as [string, string];
        const verified = await verifyFile(file);
        expect(verified.findings.sort()).toEqual([
          expect.stringContaining(`(${a}, ${refs.get(a)} bytes) is not the one its sender signed (its length differs)`),
          expect.stringContaining(`(${b}, ${refs.get(b)} bytes) is not in the bodies directory ${join(auditDir, 'tamper.audit.bodies')}: copy the bundle's bodies directory beside it`),
        ].sort((x, y) => String(x).localeCompare(String(y))));
        const opened = await openFile(file, east());
        expect(opened.code).toBe(1);
        expect(opened.entries.filter((e) => e.status === 'refused').map((e) => e.problem!.split(':')[0]).sort()).toEqual([ErrorCode.BlobMissing, `${ErrorCode.EnvelopeTampered} (body-size)`].sort());
        expect(opened.entries.filter((e) => e.status === 'opened' && e.detached !== undefined)).toEqual([]);
      });
    });

    it('refuses to export a body the store swapped, naming the run, the digest and what to do, and writes no bundle', async () => {
      const [a, b] = [...refs.keys()] as [string, string];
      const stored = (d: string) => join(blobDirOf(runId), `${d}.blob`);
      const kept = await readFile(stored(a));
      try {
        await writeFile(stored(a), await readFile(stored(b)));
        const refusal = await exportBundle(runId, 'swapped').then(() => undefined, (e: unknown) => e as { code?: string; message: string; details?: unknown });
        expect(refusal).toMatchObject({ code: ErrorCode.EnvelopeTampered, details: { runId, digest: a, reason: 'body-digest' } });
        expect(refusal!.message).toContain(`The sealed body ${a} (${refs.get(a)} bytes) of the message seq 0`);
        expect(refusal!.message).toContain('is not the body its sender signed: the test API gave bytes of another SHA-256');
        await expect(readFile(join(auditDir, 'swapped.audit.json'))).rejects.toMatchObject({ code: 'ENOENT' });
        await expect(readdir(join(auditDir, 'swapped.audit.bodies'))).resolves.not.toContain(a);
      } finally {
        await writeFile(stored(a), kept);
      }
    });

    it('exports without the bodies when asked, and verify names each as missing rather than failing', async () => {
      const { file: bare, bundle } = await exportBundle(runId, 'bare', 'without');
      expect(bundle.bodiesDirectory).toBeUndefined();
      const verified = await verifyFile(bare);
      expect(verified.findings).toHaveLength(2);
      for (const finding of verified.findings) expect(finding).toMatch(/^unverifiable: the sealed body of envelope seq \d+ from "[\w-]+" \([\w-]{43}, \d+ bytes\) is not in .*bare\.audit\.json \(it names no bodies directory/);
    });
  });

  it('removes, once the run has ended, a blob its history does not refer to (a superseded attempt\'s), and keeps the others until the retention', async () => {
    const { runId, handle } = await run([
      probeStep('send', { action: 'bulk', to: [EAST], count: 1, bytes: 400_000, seed: 'prune' }, { at: [NORTH] }),
      probeStep('check', { action: 'digest' }, { at: [EAST], inputs: ['send'] }),
    ]);
    await handle.result();
    const [referenced] = [...detachedRefsIn(await historyText(handle)).keys()];
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
    expect(detachedRefsIn(history).size).toBe(0);
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
      const envelope = await sealEnvelope({
        binding: { runId, step: 'send', from: NORTH, to: [EAST], seq },
        body: new TextEncoder().encode(JSON.stringify({ text: 'x'.repeat(400_000) })),
        sender: north.keys,
        recipients: [{ org: EAST, receiveJwk: east().keys.receive.publicJwk }],
      });
      const bytes = Buffer.from(canonicalJson(envelope), 'utf8');
      const digest = createHash('sha256').update(bytes).digest('base64url');
      await stores.get(NORTH)!.put(runId, digest, bodyOf(bytes));
      return { kind: 'blob', digest, size: bytes.length, binding: envelope.binding };
    }
    const refusalOf = (promise: Promise<unknown>) => promise.then(() => undefined, (e: unknown) => e as { code?: string; message?: string; details?: { reason?: string } });
    const openAtEast = (envelope: unknown) => openEnvelope(envelope, {
      expect: { runId, step: 'send', recipient: EAST },
      receiveKey: east().keys.receive.privateJwk,
      senderSigningKey: async (org) => (await federation.directory.publicKeys(org))?.sign.jwk,
      replayGuard: createMemoryReplayGuard(),
    });

    it('opens an untouched blob as the envelope it stands for', async () => {
      const ref = await storedMessage(0);
      const envelope = await envelopeOf(ref, stores.get(EAST));
      const opened = await openAtEast(envelope);
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

    async function sealedBody(text: string, fileKey: Uint8Array): Promise<Buffer> {
      const pieces: Buffer[] = [];
      for await (const piece of sealBodyStream((async function* () { yield Buffer.from(JSON.stringify({ text })); })(), fileKey)) pieces.push(piece);
      return Buffer.concat(pieces);
    }
    /** A large message from north to east as north's worker sends it now: its sealed body stored, its envelope naming it. */
    async function detachedMessage(seq: number, text: string) {
      const north = federation.sites[0]!;
      const fileKey = newFileKey();
      const sealed = await sealedBody(text, fileKey);
      const digest = createHash('sha256').update(sealed).digest('base64url');
      await stores.get(NORTH)!.put(runId, digest, bodyOf(sealed));
      const envelope = await sealEnvelope({
        binding: { runId, step: 'send', from: NORTH, to: [EAST], seq },
        detached: { fileKey, digest, size: sealed.length },
        sender: north.keys,
        recipients: [{ org: EAST, receiveJwk: east().keys.receive.publicJwk }],
      });
      // The key kept: what every recipient learns on opening, for the co-recipient's attack.
      return { envelope, sealed, digest, fileKey: Buffer.from(fileKey) };
    }

    it('refuses at the receiving site a detached body the store swapped for another genuine sealed body, cut short, or sealed anew by a co-recipient, vaguely, and leaves no input file', async () => {
      const [a, b] = [await detachedMessage(9, 'x'.repeat(400_000)), await detachedMessage(10, 'y'.repeat(400_000))];
      const stored = join(blobDirOf(runId), `${a.digest}.blob`);
      const input = join(stateDir, `east-input-${randomInt(1e9)}`);
      // The untouched body opens to what north sent.
      const opened = await openAtEast(a.envelope);
      await writeDetachedBody(stores.get(EAST), runId, opened.detached!, input);
      expect(JSON.parse(await readFile(input, 'utf8'))).toEqual({ text: 'x'.repeat(400_000) });
      await rm(input);
      // The store's operator puts b's body, of the same length, in a's place; then a's, cut short;
      // then a body a co-recipient sealed anew under a's key, which decrypts chunk by chunk.
      const forged = await sealedBody('z'.repeat(400_000), a.fileKey);
      expect(forged.length).toBe(a.sealed.length);
      // The operator keeps the blob's note (the length the API declares) in step with what it serves:
      // a body the API itself cut short in transfer is a fault to retry, not a refusal.
      const note = join(blobDirOf(runId), `${a.digest}.json`);
      const declared = JSON.parse(await readFile(note, 'utf8')) as Record<string, unknown>;
      for (const changed of [b.sealed, a.sealed.subarray(0, a.sealed.length - 100), forged]) {
        await writeFile(stored, changed);
        await writeFile(note, JSON.stringify({ ...declared, size: changed.length }));
        const again = await openAtEast(a.envelope);
        const refusal = await refusalOf(writeDetachedBody(stores.get(EAST), runId, again.detached!, input));
        expect(refusal).toMatchObject({ code: ErrorCode.EnvelopeTampered, message: TAMPERED_MESSAGE });
        await expect(readFile(input)).rejects.toMatchObject({ code: 'ENOENT' });
      }
    });

    it('shows a blob reference in the codec server as its envelope once the blob matches, and says when it does not', async () => {
      const ref = await storedMessage(7);
      const token = `codec-token-${randomInt(1e9)}-long-enough`;
      const codec = createCodecApp({ token, keys: east().keys, directory: federation.directory, blobs: (run, digest, size) => api.admin.getBlob(run, digest, size) });
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
