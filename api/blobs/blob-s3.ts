/**
 * The API's blobs in an S3-compatible object store (./blob-backend.ts), for a deployment whose
 * API should not keep them on its own disk. The layout mirrors the file backend's:
 *
 *   <prefix>/<run id>/<digest>     one object per blob; its note (who stored it) as user metadata
 *   <prefix>/<run id>/.ended       when the run was first seen ended (retention, ./blob-retention.ts)
 *   <prefix>/<run id>/.pruned      that the run's unreferenced blobs were removed
 *
 * so a run's blobs are one listing under its prefix, and retention removes them as it removes a
 * run directory. The store sees what the file backend's disk sees: ciphertext, its size and its
 * digest, the run id and who stored it — never a key or a clear body.
 *
 * A write is one streamed PUT with the blob's size as Content-Length, signed with the blob's own
 * SHA-256 (its name, known before the first byte): a store that checks signed payloads — AWS S3,
 * SeaweedFS — refuses bytes that do not hash to it, so a wrong blob never lands; and the API
 * hashes what it forwards as well, removing what a store that does not check took (below).
 * Why not multipart: a blob is at most the API's blob limit (1 GiB by default), within S3's 5 GiB
 * for one PUT; one PUT needs no part held in memory to be hashed and signed, and a failed one
 * leaves nothing behind (an abandoned multipart upload keeps its parts until aborted). A failed
 * upload is retried whole, by the site, which streams the body again anyway.
 */
import { createHash, randomBytes } from 'node:crypto';
import { pipeline, Transform } from 'node:stream';
import { ErrorCode, ParleyError } from '../../common/errors.ts';
import { BLOB_DIGEST, MeasureError, measure, type BlobBackend } from './blob-backend.ts';
import type { S3Client } from './s3/s3-client.ts';
import { S3Failure, S3StoreError } from './s3/s3-error.ts';

const RUN_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
/** Deletes in flight at once when a run's blobs go: one request each works on every store. */
const DELETE_CONCURRENCY = 8;

/**
 * The S3 backend over `client`'s bucket, under `prefix` (no leading or trailing slash; '' for
 * the bucket's root). Run ids and digests are checked by the routes.
 */
export function createS3BlobBackend(client: S3Client, prefix: string): BlobBackend {
  const root = prefix === '' ? '' : `${prefix}/`;
  const runPrefix = (runId: string) => `${root}${runId}/`;
  const blobKey = (runId: string, digest: string) => `${runPrefix(runId)}${digest}`;

  async function holdsObjects(prefix: string): Promise<boolean> {
    // A key ending in "/" is such a folder's own marker, not a blob or a marker of ours.
    for await (const page of client.list(prefix, { maxKeys: 2 })) return page.keys.some((k) => !k.endsWith('/'));
    return false;
  }

  async function keysOf(runId: string): Promise<string[]> {
    const keys: string[] = [];
    for await (const page of client.list(runPrefix(runId))) keys.push(...page.keys);
    return keys;
  }

  return {
    async put(runId, digest, size, note, body, maxBytes) {
      const key = blobKey(runId, digest);
      const existing = await client.head(key);
      const measured = measure(Math.min(maxBytes, size), true);
      // The source's own failure (the client went away) reaches the upload through the measure.
      pipeline(body, measured.stream, () => {});
      try {
        if (existing) {
          // Checked even when already stored (the answer says these bytes are that blob); never
          // written again, so a wrong body cannot replace a right blob on any store.
          for await (const _ of measured.stream) { /* hashed on the way */ }
        } else {
          await client.put(key, measured.stream, size, Buffer.from(digest, 'base64url').toString('hex'), { org: note.org, collaboration: note.collaborationId });
        }
      } catch (err) {
        if (err instanceof MeasureError) return { refused: err.problem === 'too-large' && size > maxBytes ? 'too-large' : 'size', size: err.size };
        if (err instanceof S3StoreError && err.failure === S3Failure.Digest) return { refused: 'digest', size };
        throw err;
      }
      const got = measured.result();
      if (got.digest !== digest) {
        // A store that does not check signed payloads took it: it is not that blob, remove it.
        if (!existing) await client.delete(key);
        return { refused: 'digest', size: got.size };
      }
      return { stored: !existing };
    },
    async note(runId, digest) {
      const head = await client.head(blobKey(runId, digest));
      const { org, collaboration } = head?.metadata ?? {};
      // An object without Parley's note was not stored through the API: no one's to read.
      if (!head || org === undefined || collaboration === undefined) return undefined;
      return { org, collaborationId: collaboration, size: head.size };
    },
    async read(runId, digest) {
      const source = await client.get(blobKey(runId, digest));
      if (source === undefined) throw new ParleyError(ErrorCode.NotFound, `Blob ${digest} of run ${runId} is not in the blob store (removed with its run's retention?).`, { runId, digest });
      const checked = verifyDigest(runId, digest);
      return pipeline(source, checked, () => {});
    },
    async runs() {
      const runs: string[] = [];
      for await (const page of client.list(root, { delimiter: '/' })) {
        for (const p of page.prefixes) {
          const runId = p.slice(root.length, -1);
          // Stores built on a file system (SeaweedFS) list a run's emptied "folder" for a while
          // after its objects went: a run counts only while it holds an object. Else a sweep
          // would see the removed run again and write its markers anew, every retention period.
          if (RUN_ID.test(runId) && await holdsObjects(runPrefix(runId))) runs.push(runId);
        }
      }
      return runs;
    },
    async endedSince(runId, now) {
      const key = `${runPrefix(runId)}.ended`;
      const stored = await client.get(key);
      if (stored !== undefined) {
        let text = '';
        for await (const chunk of stored) text += String(chunk);
        return Number(text);
      }
      const body = Buffer.from(String(now));
      await client.put(key, body, body.length, sha256Hex(body));
      return now;
    },
    async removeRun(runId) {
      // Markers last: a sweep cut short leaves the run listed, its retention clock kept.
      const keys = (await keysOf(runId)).sort((a, b) => Number(isMarker(a)) - Number(isMarker(b)));
      for (let i = 0; i < keys.length; i += DELETE_CONCURRENCY) {
        await Promise.all(keys.slice(i, i + DELETE_CONCURRENCY).map((k) => client.delete(k)));
      }
    },
    async digests(runId) {
      const start = runPrefix(runId).length;
      return (await keysOf(runId)).map((k) => k.slice(start)).filter((name) => BLOB_DIGEST.test(name));
    },
    remove: (runId, digest) => client.delete(blobKey(runId, digest)),
    async markPruned(runId) {
      // Not atomic across API processes sharing a bucket: two may both prune, which is harmless
      // (both remove the same unreferenced blobs); one API's sweeps run one at a time.
      const key = `${runPrefix(runId)}.pruned`;
      if (await client.head(key)) return false;
      await client.put(key, Buffer.alloc(0), 0, sha256Hex(Buffer.alloc(0)));
      return true;
    },
  };
}

/**
 * Checks, before the API serves, that the store answers and lets the API list, write and delete
 * under `prefix`: one listing and a small probe object written and removed.
 *
 * @throws S3StoreError naming the endpoint, the bucket, what failed and what to do.
 */
export async function checkS3BlobStore(client: S3Client, prefix: string): Promise<void> {
  const root = prefix === '' ? '' : `${prefix}/`;
  for await (const _ of client.list(root, { delimiter: '/', maxKeys: 1 })) break;
  const probe = Buffer.from('parley blob store probe\n');
  const key = `${root}.probe-${randomBytes(6).toString('hex')}`;
  await client.put(key, probe, probe.length, sha256Hex(probe));
  await client.delete(key);
}

const isMarker = (key: string) => key.slice(key.lastIndexOf('/') + 1).startsWith('.');

const sha256Hex = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/**
 * Passes the blob through, holding back its last chunk until its length and SHA-256 are known:
 * bytes changed in the store fail the stream before it completes, so no reader ever gets a whole
 * wrong blob as if it were right (the receiving site checks the digest again in any case,
 * activities/blob-messages.ts writeDetachedBody).
 */
function verifyDigest(runId: string, digest: string): Transform {
  const hash = createHash('sha256');
  let held: Buffer | undefined;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      const out = held;
      held = chunk;
      done(null, out);
    },
    flush(done) {
      if (hash.digest('base64url') !== digest) {
        return done(new ParleyError(ErrorCode.EnvelopeTampered, `Blob ${digest} of run ${runId} in the S3 store does not hash to its name: it was changed in the store. It was not served.`, { runId, digest, reason: 'store-digest' }));
      }
      done(null, held);
    },
  });
}
