/**
 * Where a site puts what is too large for a workflow history, and fetches what other sites put
 * there (DESIGN.md "Large payloads"): a large message's body, encrypted as a stream
 * (crypto/body-stream.ts), beside its small envelope; and, in histories from before that, whole
 * sealed envelopes. The embedded default is the Parley API's store (api/blobs/), reached with the
 * site credential, whatever the API keeps the blobs in. Whatever the store, the reader checks
 * every blob itself (./blob-messages.ts): a store is trusted with availability, never with integrity.
 */
import { ErrorCode, ParleyError } from '../common/errors.ts';
import { TAMPERED_MESSAGE } from '../crypto/index.ts';
import { ApiClientError, BLOB_TOO_LONG, type ApiClient, type BlobBody } from './api-client.ts';

export interface BlobStore {
  /** Stores the blob of the run under `digest` (SHA-256 of its bytes, base64url), streaming; idempotent. */
  put(runId: string, digest: string, body: BlobBody): Promise<void>;
  /**
   * The bytes stored under `digest`, reading no more than `size` bytes. Unchecked otherwise: the
   * caller compares digest and size.
   * @throws ParleyError BlobMissing when there is no such blob, EnvelopeTampered when it is longer
   * than `size`; other errors are transient.
   */
  get(runId: string, digest: string, size: number): Promise<Uint8Array>;
  /** {@link get} as a stream, with the same errors (a blob longer than `size` fails the stream). */
  stream(runId: string, digest: string, size: number): Promise<AsyncIterable<Uint8Array>>;
}

/** The blob store of the Parley API, over a client that sends the site credential. */
export function apiBlobStore(api: ApiClient): BlobStore {
  const refusal = (runId: string) => (err: unknown): never => {
    if (err instanceof ApiClientError && err.status === 404) {
      throw new ParleyError(ErrorCode.BlobMissing, `A large input of run "${runId}" is not in the blob store: it was never stored, or was removed with the run's retention. Start the run again.`, { runId });
    }
    if (err instanceof ApiClientError && err.code === BLOB_TOO_LONG) {
      // Vague, as every envelope refusal another party may see (STYLE.md "Errors").
      throw new ParleyError(ErrorCode.EnvelopeTampered, TAMPERED_MESSAGE, { runId, reason: 'blob-size' });
    }
    throw err;
  };
  return {
    async put(runId, digest, body) {
      await api.putBlob(runId, digest, body);
    },
    get: (runId, digest, size) => api.getBlob(runId, digest, size).catch(refusal(runId)),
    async stream(runId, digest, size) {
      const source = await api.getBlobStream(runId, digest, size).catch(refusal(runId));
      return (async function* () {
        try {
          yield* source;
        } catch (err) {
          refusal(runId)(err);
        }
      })();
    },
  };
}
