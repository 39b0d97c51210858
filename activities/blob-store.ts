/**
 * Where a site puts the sealed envelopes too large for a workflow history, and fetches those of
 * other sites (DESIGN.md "Large payloads"). The embedded default is the Parley API's store
 * (api/blobs/), reached with the site credential; an S3-compatible store would be another
 * implementation of this interface (not built yet). Whatever the store, the reader checks every
 * blob itself (./blob-messages.ts): a store is trusted with availability, never with integrity.
 */
import { ErrorCode, ParleyError } from '../common/errors.ts';
import { TAMPERED_MESSAGE } from '../crypto/index.ts';
import { ApiClientError, BLOB_TOO_LONG, type ApiClient } from './api-client.ts';

export interface BlobStore {
  /** Stores `bytes` of the run under `digest` (SHA-256 of the bytes, base64url); idempotent. */
  put(runId: string, digest: string, bytes: Uint8Array): Promise<void>;
  /**
   * The bytes stored under `digest`, reading no more than `size` bytes. Unchecked otherwise: the
   * caller compares digest and size.
   * @throws ParleyError BlobMissing when there is no such blob, EnvelopeTampered when it is longer
   * than `size`; other errors are transient.
   */
  get(runId: string, digest: string, size: number): Promise<Uint8Array>;
}

/** The blob store of the Parley API, over a client that sends the site credential. */
export function apiBlobStore(api: ApiClient): BlobStore {
  return {
    async put(runId, digest, bytes) {
      await api.putBlob(runId, digest, bytes);
    },
    async get(runId, digest, size) {
      try {
        return await api.getBlob(runId, digest, size);
      } catch (err) {
        if (err instanceof ApiClientError && err.status === 404) {
          throw new ParleyError(ErrorCode.BlobMissing, `A large input of run "${runId}" is not in the blob store: it was never stored, or was removed with the run's retention. Start the run again.`, { runId });
        }
        if (err instanceof ApiClientError && err.code === BLOB_TOO_LONG) {
          // Vague, as every envelope refusal another party may see (STYLE.md "Errors").
          throw new ParleyError(ErrorCode.EnvelopeTampered, TAMPERED_MESSAGE, { runId, reason: 'blob-size' });
        }
        throw err;
      }
    },
  };
}
