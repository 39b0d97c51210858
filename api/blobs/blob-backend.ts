/**
 * Where the API keeps its blobs (DESIGN.md "Large payloads"): sealed envelopes too large for a
 * workflow history, each named by the SHA-256 of its bytes and filed under its run, with a small
 * note of who stored it. Two backends: files under the state directory (./blob-dir.ts, the
 * embedded default) and an S3-compatible object store (./blob-s3.ts). Both are handed ciphertext
 * only, and both accept a write only when its bytes hash to the name it is stored under.
 */
import { createHash } from 'node:crypto';
import { Transform, type Readable } from 'node:stream';

/** A blob's name: SHA-256 of its bytes, base64url (43 characters). */
export const BLOB_DIGEST = /^[A-Za-z0-9_-]{43}$/;

/** Who stored a blob: only sites of that collaboration may read it. */
export interface BlobNote {
  org: string;
  collaborationId: string;
  size: number;
}

/** Why a write was refused. */
export type BlobWriteRefusal = { refused: 'digest' | 'size' | 'too-large'; size: number };

export interface BlobBackend {
  /**
   * Streams `body` into the blob `runId/digest`, checking its SHA-256 and its length against
   * `size`, and at most `maxBytes`. Nothing is kept of a refused write. Idempotent: the same
   * bytes again are checked and answered `stored: false`.
   */
  put(runId: string, digest: string, size: number, note: Omit<BlobNote, 'size'>, body: Readable, maxBytes: number): Promise<{ stored: boolean } | BlobWriteRefusal>;
  /** The blob's note, or undefined when there is no such blob. */
  note(runId: string, digest: string): Promise<BlobNote | undefined>;
  /** A stream of the blob's bytes (which errors if they turn out not to be the blob's, where the backend checks). */
  read(runId: string, digest: string): Promise<Readable>;
  /** The runs that have blobs. */
  runs(): Promise<string[]>;
  /** When the run was first seen ended (ms since the epoch), recording `now` if not yet. */
  endedSince(runId: string, now: number): Promise<number>;
  /** Removes every blob of the run. */
  removeRun(runId: string): Promise<void>;
  /** The digests of the run's blobs. */
  digests(runId: string): Promise<string[]>;
  /** Removes one blob of the run (and its note). */
  remove(runId: string, digest: string): Promise<void>;
  /** Records that the run's unreferenced blobs were removed; false when that was already recorded. */
  markPruned(runId: string): Promise<boolean>;
}

/** Thrown through a measured stream: more bytes than allowed, or (with `exact`) fewer than declared. */
export class MeasureError extends RangeError {
  constructor(readonly problem: 'too-large' | 'short', readonly size: number) {
    super(problem);
    this.name = 'MeasureError';
  }
}

/**
 * Hashes and counts what passes through, failing with MeasureError past `max` bytes, and, when
 * `exact`, at the end when fewer than `max` came (so a short body never completes an upload).
 */
export function measure(max: number, exact = false) {
  const hash = createHash('sha256');
  let size = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      size += chunk.length;
      if (size > max) return done(new MeasureError('too-large', size));
      hash.update(chunk);
      done(null, chunk);
    },
    flush(done) {
      done(exact && size < max ? new MeasureError('short', size) : null);
    },
  });
  let digest: string | undefined;
  return { stream, result: () => ({ size, digest: (digest ??= hash.digest('base64url')) }) };
}
