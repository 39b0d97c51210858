/**
 * The API's embedded blob store, its default backend (./blob-backend.ts): sealed envelopes too large for a
 * workflow history, one file per blob under `<stateDir>/blobs/<run id>/<digest>`, beside a small
 * JSON note of who stored it. Files, not the database: a blob streams to disk and back without
 * being held in memory (PGlite and postgres.js hand bytea values over whole), the database stays
 * small, and removing a run's blobs is one `rm -r`. Content-addressed: a write is accepted only
 * when the bytes hash to the digest it is stored under, so storing again is a no-op and a reader
 * can check what it got against the name it asked for.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { MeasureError, measure, type BlobBackend, type BlobNote } from './blob-backend.ts';

/** The blob store under `root` (created 0700 on first write). Run ids and digests are checked by the routes. */
export function createBlobDir(root: string): BlobBackend {
  const runDir = (runId: string) => join(root, runId);
  const blobFile = (runId: string, digest: string) => join(runDir(runId), `${digest}.blob`);
  const noteFile = (runId: string, digest: string) => join(runDir(runId), `${digest}.json`);
  return {
    async put(runId, digest, size, note, body, maxBytes) {
      // Checked even when already stored: the answer says these bytes are that blob.
      await mkdir(runDir(runId), { recursive: true, mode: 0o700 });
      // Written under a temporary name and renamed once checked: a reader never sees half a blob,
      // and two sites storing the same blob at once both end with the one right file.
      const temp = join(runDir(runId), `.${digest}.${randomBytes(6).toString('hex')}.part`);
      const measured = measure(Math.min(maxBytes, size));
      try {
        await pipeline(body, measured.stream, createWriteStream(temp, { mode: 0o600 }));
      } catch (err) {
        await rm(temp, { force: true });
        if (err instanceof MeasureError) return { refused: size > maxBytes ? 'too-large' : 'size', size: maxBytes };
        throw err;
      }
      const got = measured.result();
      if (got.size !== size) {
        await rm(temp, { force: true });
        return { refused: 'size', size: got.size };
      }
      if (got.digest !== digest) {
        await rm(temp, { force: true });
        return { refused: 'digest', size: got.size };
      }
      if (await stat(blobFile(runId, digest)).then(() => true, () => false)) {
        await rm(temp, { force: true });
        return { stored: false };
      }
      await writeFile(noteFile(runId, digest), JSON.stringify({ ...note, size } satisfies BlobNote), { mode: 0o600 });
      await rename(temp, blobFile(runId, digest));
      return { stored: true };
    },
    async note(runId, digest) {
      try {
        await stat(blobFile(runId, digest));
        return JSON.parse(await readFile(noteFile(runId, digest), 'utf8')) as BlobNote;
      } catch {
        return undefined;
      }
    },
    read: async (runId, digest) => createReadStream(blobFile(runId, digest)),
    async runs() {
      try {
        return (await readdir(root, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name);
      } catch {
        return [];
      }
    },
    async endedSince(runId, now) {
      const file = join(runDir(runId), '.ended');
      try {
        return Number(await readFile(file, 'utf8'));
      } catch {
        await writeFile(file, String(now), { mode: 0o600 });
        return now;
      }
    },
    removeRun: (runId) => rm(runDir(runId), { recursive: true, force: true }),
    async digests(runId) {
      try {
        return (await readdir(runDir(runId))).filter((f) => f.endsWith('.blob') && !f.startsWith('.')).map((f) => f.slice(0, -'.blob'.length));
      } catch {
        return [];
      }
    },
    async remove(runId, digest) {
      await rm(blobFile(runId, digest), { force: true });
      await rm(noteFile(runId, digest), { force: true });
    },
    async markPruned(runId) {
      try {
        await writeFile(join(runDir(runId), '.pruned'), '', { flag: 'wx', mode: 0o600 });
        return true;
      } catch {
        return false;
      }
    },
  };
}
