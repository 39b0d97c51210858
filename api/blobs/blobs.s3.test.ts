/**
 * The blob suite (blobs.suite.ts: /v1/blobs as sites and auditors meet it, and retention) with
 * the API's blobs in an S3-compatible store: SeaweedFS, started by this file
 * (test/support/s3-server.ts), which checks the API's SigV4 signatures. PGlite holds the rest.
 * Beside it, what a reader meets when a blob was changed in the bucket behind the API's back.
 */
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../db/client.ts';
import { startTestS3Server, type TestS3Server } from '../../test/support/s3-server.ts';
import { createFederation, withSignedManifest } from '../testing/fixtures.ts';
import { useApiHarness } from '../testing/harness.ts';
import { call } from '../testing/http.ts';
import { createS3BlobBackend } from './blob-s3.ts';
import { blobsSuite } from './blobs.suite.ts';

const PREFIX = 'deployment-a/blobs';
let server: TestS3Server | undefined;
afterAll(async () => server?.stop());
const h = useApiHarness('s3-blobs', () => openDatabase());

/** A bucket of its own on the file's one server. */
async function freshStore() {
  server ??= await startTestS3Server();
  const client = server.client(await server.createBucket());
  return { client, store: createS3BlobBackend(client, PREFIX) };
}

blobsSuite(h, async () => {
  const { client, store } = await freshStore();
  return {
    store,
    async held(runId) {
      const keys: string[] = [];
      for await (const page of client.list(`${PREFIX}/${runId}/`)) keys.push(...page.keys);
      return keys;
    },
    // The bucket and its objects go with the server (stop).
    close: async () => {},
  };
}, 'blobs in an S3-compatible store');

describe('a blob changed in the S3 store', () => {
  it('is not served whole through the API: the answer breaks off before its end, and the API\'s log says why', async () => {
    const { client, store } = await freshStore();
    const app = h().makeApp({ blobStore: store, maxBlobBytes: 2 ** 20 });
    const fed = await createFederation(h(), 3);
    const run = { collaborationId: fed.collaboration.id, modulus: '1000000007', dataset: 'patients', image: { name: 'example/secure-sum', digest: `sha256:${'ab'.repeat(32)}` }, participants: fed.sites.map((s) => s.id).sort() };
    const started = await call(app, 'POST', '/v1/runs', { token: fed.researcher.token, body: await withSignedManifest(fed, run) });
    expect(started.status).toBe(201);
    const runId = started.body.id as string;
    const bytes = randomBytes(150_000).toString('base64url');
    const digest = createHash('sha256').update(bytes).digest('base64url');
    const stored = await call(app, 'PUT', `/v1/blobs/${runId}/${digest}`, { raw: bytes, contentType: 'application/octet-stream', token: fed.credentials[0]!, headers: { 'content-length': String(bytes.length) } });
    expect(stored.status).toBe(201);

    // Someone with access to the bucket, not the API, rewrites the object (its note kept).
    const changed = Buffer.from(bytes);
    changed[70_000] = changed[70_000] === 0x41 ? 0x42 : 0x41;
    const key = `${PREFIX}/${runId}/${digest}`;
    const head = await client.head(key);
    await client.put(key, changed, changed.length, createHash('sha256').update(changed).digest('hex'), head!.metadata);

    const res = await app.request(`/v1/blobs/${runId}/${digest}`, { headers: { authorization: `Bearer ${fed.credentials[1]!}` } });
    expect(res.status).toBe(200);
    await expect(res.text()).rejects.toThrow();
    expect(h().logs.some((l) => l.message === 'blob read failed' && l.fields.runId === runId && l.fields.reason === 'store-digest')).toBe(true);
  });
});
