/**
 * /v1/blobs as sites and auditors meet it: a site stores a sealed envelope under the SHA-256 of
 * its bytes, storing it again changes nothing, and bytes under a wrong digest or length are
 * refused; only a site taking part in the run stores into it (the run's workflow, started through
 * the API on the test's Temporal server, says who); sites of the same collaboration, auditors and
 * admins read it, no one else. (Removal
 * with the run's retention runs against a real run in test/e2e/big-payloads.test.ts.)
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../common/errors.ts';
import type { Harness } from '../testing/harness.ts';
import { createFederation, createUser, withSignedManifest, type Federation } from '../testing/fixtures.ts';
import { call, expectProblem } from '../testing/http.ts';

const digestOf = (bytes: string) => createHash('sha256').update(bytes).digest('base64url');

export function blobsSuite(h: () => Harness): void {
  describe('blobs', () => {
    let dir: string;
    let app: ReturnType<Harness['makeApp']>;
    let fed: Federation;
    let other: Federation;
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'parley-blobs-suite-'));
      app = h().makeApp({ blobDir: dir, maxBlobBytes: 1000 });
      // Four sites, and runs of three: the fourth is a member of the collaboration, not of the run.
      [fed, other] = [await createFederation(h(), 4), await createFederation(h(), 3)];
    });
    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
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
      expect(await readdir(join(dir, runId)).catch(() => [])).toEqual([]);
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
      expect(await readdir(join(dir, runId)).catch(() => [])).toEqual([]);
      expect(h().logs.filter((l) => l.message === 'blob refused' && l.fields.reason === 'not-a-participant').length).toBeGreaterThanOrEqual(2);
    });
  });
}
