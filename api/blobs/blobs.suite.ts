/**
 * /v1/blobs as sites and auditors meet it: a site stores a sealed envelope under the SHA-256 of
 * its bytes, storing it again changes nothing, and bytes under a wrong digest or length are
 * refused; only a site taking part in the run stores into it (the run's workflow, started through
 * the API on the test's Temporal server, says who); sites of the same collaboration, auditors and
 * admins read it, no one else; a run's blobs go with its retention once its workflow ended.
 * (Retention against a real run of sites: test/e2e/big-payloads.test.ts.)
 *
 * It runs on the file backend (the PGlite and PostgreSQL runners) and on an S3-compatible store
 * (blobs.s3.test.ts): each runner says which, and how to look at what the store holds.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../common/errors.ts';
import { captureLogger, type Harness } from '../testing/harness.ts';
import { createFederation, createUser, withSignedManifest, type Federation } from '../testing/fixtures.ts';
import { call, expectProblem } from '../testing/http.ts';
import { createTemporalRunLauncher } from '../runs/launcher.ts';
import type { BlobBackend } from './blob-backend.ts';
import { createBlobDir } from './blob-dir.ts';
import { sweepRunBlobs } from './blob-retention.ts';

const digestOf = (bytes: string) => createHash('sha256').update(bytes).digest('base64url');

/** A fresh, empty blob store for the suite, and a look at what it holds, past the backend. */
export interface OpenedBlobStore {
  store: BlobBackend;
  /** Every name the store holds for the run (files or object keys, markers included). */
  held(runId: string): Promise<string[]>;
  close(): Promise<void>;
}

/** The file backend under a temporary directory: the API's embedded default. */
export async function openBlobDirForTest(): Promise<OpenedBlobStore> {
  const dir = await mkdtemp(join(tmpdir(), 'parley-blobs-suite-'));
  return {
    store: createBlobDir(dir),
    held: (runId) => readdir(join(dir, runId)).catch(() => []),
    close: () => rm(dir, { recursive: true, force: true }),
  };
}

export function blobsSuite(h: () => Harness, openStore: () => Promise<OpenedBlobStore> = openBlobDirForTest, name = 'blobs'): void {
  describe(name, () => {
    let opened: OpenedBlobStore;
    let app: ReturnType<Harness['makeApp']>;
    let fed: Federation;
    let other: Federation;
    beforeAll(async () => {
      opened = await openStore();
      app = h().makeApp({ blobStore: opened.store, maxBlobBytes: 1000 });
      // Four sites, and runs of three: the fourth is a member of the collaboration, not of the run.
      [fed, other] = [await createFederation(h(), 4), await createFederation(h(), 3)];
    });
    afterAll(async () => {
      await opened?.close();
    });
    /** A ring run of the first three sites, started through the API (its workflow waits in Temporal). */
    const startRun = async (): Promise<string> => {
      const body = { collaborationId: fed.collaboration.id, modulus: '1000000007', dataset: 'patients', image: { name: 'example/secure-sum', digest: `sha256:${'ab'.repeat(32)}` }, participants: fed.sites.slice(0, 3).map((s) => s.id).sort() };
      const res = await call(app, 'POST', '/v1/runs', { token: fed.researcher.token, body: await withSignedManifest(fed, body) });
      expect(res.status).toBe(201);
      return res.body.id as string;
    };
    /** The credential of one of the three sites taking part in the run. */
    const participant = (i: 0 | 1 | 2) => fed.credentials[i]!;
    const put = (runId: string, digest: string, bytes: string, token: string, headers: Record<string, string> = { 'content-length': String(Buffer.byteLength(bytes)) }) =>
      call(app, 'PUT', `/v1/blobs/${runId}/${digest}`, { raw: bytes, contentType: 'application/octet-stream', token, headers });

    it('stores a blob under the digest of its bytes, once, and gives it back to a site of the run\'s collaboration', async () => {
      const runId = await startRun();
      const bytes = `{"sealed":"${'z'.repeat(500)}"}`;
      const first = await put(runId, digestOf(bytes), bytes, participant(0));
      expect(first.status).toBe(201);
      expect(first.body).toEqual({ digest: digestOf(bytes), size: Buffer.byteLength(bytes), stored: true });
      expect((await put(runId, digestOf(bytes), bytes, participant(1))).status).toBe(200);
      // A site of the collaboration reads it even when it does not take part in the run (as before).
      const got = await call(app, 'GET', `/v1/blobs/${runId}/${digestOf(bytes)}`, { token: fed.credentials[3]! });
      expect(got.status).toBe(200);
      expect(got.headers.get('content-type')).toBe('application/octet-stream');
      expect(got.text).toBe(bytes);
    });

    it('refuses bytes under another digest, a wrong length, no length, or more than the API stores', async () => {
      const runId = await startRun();
      const token = participant(0);
      const refused = await put(runId, digestOf('other bytes'), 'these bytes', token);
      expectProblem(refused, 400, ErrorCode.InvalidInput);
      expect(refused.body.detail).toContain('its bytes do not hash to the digest it was sent under');
      expectProblem(await put(runId, digestOf('short'), 'short', token, {}), 411, ErrorCode.InvalidInput);
      const big = 'b'.repeat(1001);
      const tooBig = await put(runId, digestOf(big), big, token);
      expectProblem(tooBig, 413, ErrorCode.PayloadTooLarge);
      expect(tooBig.body.detail).toContain('larger than the 1000 bytes this API stores');
      // Nothing of a refused write is kept.
      expect(await opened.held(runId)).toEqual([]);
    });

    it('lets only sites store blobs, and sites of other collaborations and researchers not read them; auditors and admins read them', async () => {
      const runId = await startRun();
      const bytes = 'sealed-for-the-run';
      expectProblem(await put(runId, digestOf(bytes), bytes, fed.researcher.token), 403, ErrorCode.Forbidden);
      expect((await put(runId, digestOf(bytes), bytes, participant(0))).status).toBe(201);
      const path = `/v1/blobs/${runId}/${digestOf(bytes)}`;
      expectProblem(await call(app, 'GET', path, { token: other.credentials[0]! }), 404, ErrorCode.NotFound);
      expectProblem(await call(app, 'GET', path, { token: fed.researcher.token }), 403, ErrorCode.Forbidden);
      const auditor = await createUser(h(), fed.lab.id, 'auditor');
      expect((await call(app, 'GET', path, { token: auditor.token })).text).toBe(bytes);
      expect((await call(app, 'GET', path, { token: h().adminToken })).text).toBe(bytes);
    });

    it('refuses a blob from a site that does not take part in the run, in its collaboration or another, and for a run Temporal does not have', async () => {
      const runId = await startRun();
      const bytes = 'not-this-sites-run';
      const outsider = await put(runId, digestOf(bytes), bytes, fed.credentials[3]!);
      expectProblem(outsider, 403, ErrorCode.Forbidden);
      expect(outsider.body.detail).toContain(`Site "${fed.sites[3]!.id}" does not take part in run ${runId}`);
      expectProblem(await put(runId, digestOf(bytes), bytes, other.credentials[0]!), 403, ErrorCode.Forbidden);
      expectProblem(await put('run-that-never-started', digestOf(bytes), bytes, participant(0)), 404, ErrorCode.NotFound);
      // Nothing of a refused write is kept.
      expect(await opened.held(runId)).toEqual([]);
      expect(h().logs.filter((l) => l.message === 'blob refused' && l.fields.reason === 'not-a-participant').length).toBeGreaterThanOrEqual(2);
    });

    it('removes a run\'s blobs with its retention: the unreferenced at the first sweep after its workflow ended, the rest when the retention is past', async () => {
      const runId = await startRun();
      for (const bytes of ['first-sealed-message', 'second-sealed-message']) expect((await put(runId, digestOf(bytes), bytes, participant(0))).status).toBe(201);
      let now = new Date();
      const logs: Parameters<typeof captureLogger>[0] = [];
      const sweep = () => sweepRunBlobs({ blobs: opened.store, runs: createTemporalRunLauncher(h().temporal.client), retentionMs: 3600_000, now: () => now, logger: captureLogger(logs) });
      // Running: kept, whatever the clock says.
      now = new Date(now.getTime() + 7200_000);
      expect(await sweep()).not.toContain(runId);
      expect((await opened.store.digests(runId)).sort()).toEqual([digestOf('first-sealed-message'), digestOf('second-sealed-message')].sort());
      await h().temporal.client.workflow.getHandle(runId).terminate('the blobs suite ends the run');
      // Ended: its history (a waiting stand-in's) refers to neither blob, so both go at once; the
      // run's retention clock starts.
      expect(await sweep()).not.toContain(runId);
      expect(await opened.store.digests(runId)).toEqual([]);
      expect(logs.some((l) => l.message === 'unreferenced blobs removed' && l.fields.runId === runId)).toBe(true);
      // Past its retention: nothing of the run is left in the store, markers included.
      now = new Date(now.getTime() + 3600_001);
      expect(await sweep()).toContain(runId);
      expect(await opened.held(runId)).toEqual([]);
      expect(await opened.store.runs()).not.toContain(runId);
    });
  });
}
