/**
 * `audit open` for a message whose body is detached: the envelope opened (crypto/open-envelope.ts)
 * to the body's file key and the digest and size its sender signed; this reads the sealed body
 * from the bundle, checks its length and SHA-256 against the signed ones, then decrypts it chunk
 * by chunk (crypto/body-stream.ts), giving the body only once the stream ended well — the checks
 * a receiving site makes (activities/blob-messages.ts). Two reads of a local file are cheap; in
 * exchange nothing is decrypted from bytes that are not the signed ones.
 */
import { ErrorCode, ParleyError } from '../common/errors.ts';
import { BodyStreamError, openDetachedBody, TAMPERED_MESSAGE, type OpenedDetachedBody } from '../crypto/index.ts';
import { checkDetachedBody, type BodySource } from './detached-bodies.ts';

function refuse(runId: string, reason: string): never {
  throw new ParleyError(ErrorCode.EnvelopeTampered, TAMPERED_MESSAGE, { runId, reason });
}

/**
 * The plaintext body of an opened detached envelope of run `runId`, from `source`. The file key
 * is wiped once read, whatever happens.
 * @throws ParleyError BlobMissing when the bundle lacks the body; EnvelopeTampered (vague, with
 *   `details.reason`: body-size, body-digest, body-chunk-invalid, body-truncated, …) when it is
 *   not the body the sender sealed.
 */
export async function readDetachedBody(source: BodySource, runId: string, detached: OpenedDetachedBody): Promise<Uint8Array> {
  try {
    // First the public check, as `audit verify` makes it: nothing is decrypted from bytes that
    // are not the ones the sender signed, and a substituted body is named as such.
    const checked = await checkDetachedBody(detached, source);
    if (!checked.ok && checked.problem === 'body-missing') {
      throw new ParleyError(ErrorCode.BlobMissing, `The sealed body ${detached.digest} of a message of run "${runId}" is not in ${source.where}. Copy the bundle's bodies directory beside it, or export the bundle again with --api.`, { runId, digest: detached.digest });
    }
    if (!checked.ok) refuse(runId, checked.problem);
    const sealed = await source.read(detached.digest);
    if (sealed === undefined) refuse(runId, 'body-missing');
    // Hashed again as it decrypts (openDetachedBody): the file could have changed between the two reads.
    const parts: Buffer[] = [];
    try {
      for await (const plaintext of openDetachedBody(sealed, detached)) parts.push(plaintext);
    } catch (err) {
      // The signed bytes that do not decrypt (the sender sealed them wrong, or its key is not its
      // own), or bytes changed since the check above.
      if (err instanceof BodyStreamError) refuse(runId, `body-${err.problem}`);
      throw err;
    }
    return Buffer.concat(parts);
  } finally {
    detached.fileKey.fill(0);
  }
}
