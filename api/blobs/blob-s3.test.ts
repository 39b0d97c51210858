/**
 * The S3 backend against a real S3-compatible store (SeaweedFS, started by the test: it checks
 * SigV4 signatures and signed payload hashes): a large blob streams in and out without the API's
 * memory growing with it, wrong bytes and wrong lengths leave nothing behind, a blob changed in
 * the store is not served whole, and a store that cannot be reached or refuses the credentials
 * says so — naming the endpoint and the bucket, never the secret — before the server starts.
 * The routes and retention on this backend: blobs.s3.test.ts.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ErrorCode } from '../../common/errors.ts';
import { freePort } from '../../provision/free-port.ts';
import { parley } from '../../test/support/parley-cli.ts';
import { startTestS3Server, type TestS3Server } from '../../test/support/s3-server.ts';
import { testNamespace } from '../../test/support/test-namespace.ts';
import { startCentralServer } from '../central-server.ts';
import { TEST_PASSWORD_COST } from '../testing/harness.ts';
import type { BlobBackend } from './blob-backend.ts';
import { checkS3BlobStore, createS3BlobBackend } from './blob-s3.ts';
import { createS3Client, type S3Client } from './s3/s3-client.ts';
import { S3Failure, S3StoreError } from './s3/s3-error.ts';

const PREFIX = 'parley/blobs';
const note = { org: 'north', collaborationId: 'collab-1' };
const sha256 = (bytes: Buffer | string) => createHash('sha256').update(bytes);
const digestOf = (bytes: Buffer | string) => sha256(bytes).digest('base64url');

let server: TestS3Server;
let bucket: string;
let client: S3Client;
let store: BlobBackend;

beforeAll(async () => {
  server = await startTestS3Server();
  bucket = await server.createBucket();
  client = server.client(bucket);
  store = createS3BlobBackend(client, PREFIX);
});
afterAll(async () => server?.stop());

/** The keys the bucket holds under `prefix`, read past the backend. */
async function keysUnder(prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const page of client.list(prefix)) keys.push(...page.keys);
  return keys;
}
const held = (runId: string) => keysUnder(`${PREFIX}/${runId}/`);

async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of stream) parts.push(part as Buffer);
  return Buffer.concat(parts);
}

/** `total` bytes in 64 KiB chunks made as they are asked for: a source that itself holds nothing. */
function generated(total: number, seed: Buffer): Readable {
  return Readable.from((function* () {
    for (let at = 0; at < total; at += 65_536) {
      const chunk = Buffer.allocUnsafe(Math.min(65_536, total - at));
      for (let i = 0; i < chunk.length; i += seed.length) seed.copy(chunk, i, 0, Math.min(seed.length, chunk.length - i));
      chunk.writeUInt32BE(at / 65_536, 0);
      yield chunk;
    }
  })(), { objectMode: false });
}

/** Runs `work` while sampling this process's RSS every 20 ms; the peak over the start, in MiB. */
async function rssGrowth<T>(work: () => Promise<T>): Promise<{ value: T; growthMiB: number }> {
  const before = process.memoryUsage.rss();
  let peak = before;
  const timer = setInterval(() => { peak = Math.max(peak, process.memoryUsage.rss()); }, 20);
  try {
    const value = await work();
    peak = Math.max(peak, process.memoryUsage.rss());
    return { value, growthMiB: (peak - before) / 2 ** 20 };
  } finally {
    clearInterval(timer);
  }
}

describe('the S3 blob backend', () => {
  it('streams a 100 MiB blob in and out, the API\'s memory not growing with it', async () => {
    const size = 100 * 2 ** 20;
    const seed = randomBytes(4096);
    const hash = sha256('');
    for await (const chunk of generated(size, seed)) hash.update(chunk as Buffer);
    const digest = hash.digest('base64url');
    const runId = 'run-large';

    const started = Date.now();
    const put = await rssGrowth(() => store.put(runId, digest, size, note, generated(size, seed), 2 ** 30));
    const putSeconds = (Date.now() - started) / 1000;
    expect(put.value).toEqual({ stored: true });
    expect(await store.note(runId, digest)).toEqual({ ...note, size });

    const readStarted = Date.now();
    const got = await rssGrowth(async () => {
      const check = sha256('');
      let bytes = 0;
      for await (const chunk of await store.read(runId, digest)) {
        check.update(chunk as Buffer);
        bytes += (chunk as Buffer).length;
      }
      return { bytes, digest: check.digest('base64url') };
    });
    const readSeconds = (Date.now() - readStarted) / 1000;
    expect(got.value).toEqual({ bytes: size, digest });
    console.log(`100 MiB through the S3 backend: PUT ${putSeconds.toFixed(1)} s, peak RSS +${put.growthMiB.toFixed(1)} MiB; GET ${readSeconds.toFixed(1)} s, peak RSS +${got.growthMiB.toFixed(1)} MiB`);
    // Loose: a backend that held the blob would grow by at least its 100 MiB. What it does grow by
    // is garbage not yet collected (here: PUT +1 to +7 MiB, GET +2 to +42 MiB, from run to run).
    expect(put.growthMiB).toBeLessThan(80);
    expect(got.growthMiB).toBeLessThan(80);
    await store.removeRun(runId);
    expect(await held(runId)).toEqual([]);
  });

  it('stores a blob once with its note, answers the same bytes again "already stored", and never lets other bytes replace it', async () => {
    const runId = 'run-once';
    const bytes = `{"sealed":"${'q'.repeat(300)}"}`;
    const digest = digestOf(bytes);
    expect(await store.put(runId, digest, bytes.length, note, Readable.from([Buffer.from(bytes)]), 1000)).toEqual({ stored: true });
    expect(await store.put(runId, digest, bytes.length, note, Readable.from([Buffer.from(bytes)]), 1000)).toEqual({ stored: false });
    const other = bytes.replace('q', 'r');
    expect(await store.put(runId, digest, other.length, note, Readable.from([Buffer.from(other)]), 1000)).toEqual({ refused: 'digest', size: other.length });
    expect((await readAll(await store.read(runId, digest))).toString()).toBe(bytes);
    expect(await store.digests(runId)).toEqual([digest]);
    expect(await store.runs()).toContain(runId);
  });

  it('refuses bytes under another digest, fewer or more bytes than declared, and keeps nothing of them', async () => {
    const runId = 'run-refused';
    const bytes = Buffer.from('these bytes');
    // The store itself refuses them (their SHA-256 is signed as the digest's), and so would the API.
    expect(await store.put(runId, digestOf('other bytes'), bytes.length, note, Readable.from([bytes]), 1000)).toEqual({ refused: 'digest', size: bytes.length });
    expect(await store.put(runId, digestOf(bytes), bytes.length + 5, note, Readable.from([bytes]), 1000)).toEqual({ refused: 'size', size: bytes.length });
    expect(await store.put(runId, digestOf(bytes), bytes.length - 1, note, Readable.from([bytes]), 1000)).toMatchObject({ refused: 'size' });
    expect(await held(runId)).toEqual([]);
  });

  it('does not serve whole a blob whose bytes were changed in the store: the stream fails before its end', async () => {
    const runId = 'run-tampered';
    const bytes = Buffer.from(randomBytes(200_000).toString('base64url'));
    const digest = digestOf(bytes);
    expect(await store.put(runId, digest, bytes.length, note, Readable.from([bytes]), 2 ** 20)).toEqual({ stored: true });
    // Someone with access to the bucket overwrites the object, note and all.
    const changed = Buffer.from(bytes);
    changed[1000] = changed[1000]! ^ 1;
    await client.put(`${PREFIX}/${runId}/${digest}`, changed, changed.length, sha256(changed).digest('hex'), { org: note.org, collaboration: note.collaborationId });
    const received: Buffer[] = [];
    const stream = await store.read(runId, digest);
    await expect((async () => {
      for await (const part of stream) received.push(part as Buffer);
    })()).rejects.toMatchObject({ code: ErrorCode.EnvelopeTampered, details: { reason: 'store-digest' } });
    // The reader never held all of it (and a site checks the digest again: activities/blob-messages.ts).
    expect(Buffer.concat(received).length).toBeLessThan(bytes.length);
  });

  it('removes a run\'s objects, and one blob, and records retention markers beside them', async () => {
    const runId = 'run-retained';
    const digests: string[] = [];
    for (const text of ['a-blob', 'b-blob', 'c-blob']) {
      digests.push(digestOf(text));
      await store.put(runId, digestOf(text), text.length, note, Readable.from([Buffer.from(text)]), 100);
    }
    expect(await store.endedSince(runId, 1234)).toBe(1234);
    expect(await store.endedSince(runId, 9999)).toBe(1234);
    expect(await store.markPruned(runId)).toBe(true);
    expect(await store.markPruned(runId)).toBe(false);
    await store.remove(runId, digests[0]!);
    expect((await store.digests(runId)).sort()).toEqual(digests.slice(1).sort());
    expect((await held(runId)).sort()).toEqual([...digests.slice(1).map((d) => `${PREFIX}/${runId}/${d}`), `${PREFIX}/${runId}/.ended`, `${PREFIX}/${runId}/.pruned`].sort());
    await store.removeRun(runId);
    expect(await held(runId)).toEqual([]);
    expect(await store.runs()).not.toContain(runId);
  });
});

describe('the S3 store\'s start-up check', () => {
  const wrongSecret = `wrong-${randomBytes(12).toString('base64url')}`;

  /** The error and everything of it a log or a person could see. */
  async function refusal(check: Promise<unknown>): Promise<{ err: S3StoreError; seen: string }> {
    const err = await check.then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(S3StoreError);
    const e = err as S3StoreError;
    return { err: e, seen: [e.message, e.stack, JSON.stringify(e), JSON.stringify(e.details), String(e.cause)].join('\n') };
  }

  it('passes for the right credentials and an existing bucket, leaving no probe behind', async () => {
    await checkS3BlobStore(client, PREFIX);
    expect(await keysUnder(`${PREFIX}/.probe`)).toEqual([]);
  });

  it('says the store refused the credentials, naming the endpoint, the bucket and the settings to check, never the secret', async () => {
    const { err, seen } = await refusal(checkS3BlobStore(server.client(bucket, { secretAccessKey: wrongSecret }), PREFIX));
    expect(err.failure).toBe(S3Failure.Credentials);
    expect(err.s3Code).toBe('SignatureDoesNotMatch');
    expect(err.message).toContain(`The S3 blob store at ${server.endpoint} refused the API's credentials (SignatureDoesNotMatch)`);
    expect(err.message).toContain(`bucket "${bucket}"`);
    expect(err.message).toContain('PARLEY_S3_ACCESS_KEY_ID');
    expect(seen).not.toContain(wrongSecret);
    expect(seen).not.toContain(server.secretAccessKey);
    const unknownKey = await refusal(checkS3BlobStore(server.client(bucket, { accessKeyId: 'AKIANOSUCHKEY' }), PREFIX));
    expect(unknownKey.err.failure).toBe(S3Failure.Credentials);
    expect(unknownKey.seen).not.toContain(server.secretAccessKey);
  });

  it('says a bucket does not exist, and how to fix it', async () => {
    const { err } = await refusal(checkS3BlobStore(server.client('parley-no-such-bucket'), PREFIX));
    expect(err.failure).toBe(S3Failure.NoBucket);
    expect(err.message).toBe(`The S3 blob store at ${server.endpoint} has no bucket "parley-no-such-bucket". Create the bucket, or set PARLEY_S3_BUCKET to an existing one.`);
  });

  it('says a store that does not answer is unreachable, naming where it looked', async () => {
    const endpoint = `http://127.0.0.1:${await freePort()}`;
    const { err } = await refusal(checkS3BlobStore(createS3Client({ endpoint, bucket, accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey }), PREFIX));
    expect(err.failure).toBe(S3Failure.Unreachable);
    expect(err.message).toContain(`The S3 blob store at ${endpoint} did not answer (ECONNREFUSED)`);
    expect(err.message).toContain('PARLEY_S3_ENDPOINT');
  });

  it('lets the central server start on the S3 store: the probe removed, no blob directory made', async () => {
    const stateDir = await mkdtemp(join(tmpdir(), 'parley-s3-central-'));
    const s3Bucket = await server.createBucket();
    // Temporal is never needed here: no run is started.
    const central = await startCentralServer({
      stateDir, inMemory: true, temporal: new Promise<never>(() => {}), quiet: true, adminPassword: 'an-admin-password-for-tests', passwordCost: TEST_PASSWORD_COST,
      s3: { endpoint: server.endpoint, bucket: s3Bucket, region: server.region, accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey, prefix: 'central' },
    });
    try {
      expect((await fetch(`${central.url}/healthz`)).status).toBe(200);
      // The start-up probe is gone, and the store holds nothing yet; the files' place is unused.
      const keys: string[] = [];
      for await (const page of server.client(s3Bucket).list('')) keys.push(...page.keys);
      expect(keys).toEqual([]);
      expect(await central.sweepBlobs()).toEqual([]);
      await expect(readdir(join(stateDir, 'blobs'))).rejects.toMatchObject({ code: 'ENOENT' });
    } finally {
      await central.close();
      await rm(stateDir, { recursive: true, force: true });
    }
  });

  it('keeps `parley server start` from starting when the store refuses its credentials, and prints why without the secret', async () => {
    const root = await mkdtemp(join(tmpdir(), 'parley-s3-server-'));
    try {
      await writeFile(join(root, 'secret'), `${wrongSecret}\n`, { mode: 0o600 });
      const env: NodeJS.ProcessEnv = {
        ...process.env, TEMPORAL_ADDRESS: inject('temporalAddress'), TEMPORAL_NAMESPACE: testNamespace(import.meta.url), PARLEY_ADMIN_PASSWORD: 'an-admin-password-for-tests',
        PARLEY_S3_ENDPOINT: server.endpoint, PARLEY_S3_BUCKET: bucket, PARLEY_S3_ACCESS_KEY_ID: server.accessKeyId, PARLEY_S3_SECRET_ACCESS_KEY_FILE: join(root, 'secret'),
      };
      delete env.DATABASE_URL;
      const ran = await parley(['server', 'start', '--port', '0', '--state-dir', join(root, 'state')], { env });
      expect(ran.code).toBe(1);
      expect(ran.stderr).toContain(`The S3 blob store at ${server.endpoint} refused the API's credentials`);
      expect(ran.stderr).toContain(`bucket "${bucket}"`);
      expect(`${ran.stdout}${ran.stderr}`).not.toContain(wrongSecret);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
