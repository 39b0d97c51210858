/**
 * A detached body's plaintext, from the sealed blob its envelope names: the one read that a
 * receiving site (activities/blob-messages.ts) and an auditor (audit/open-detached-body.ts) make.
 */
import { createHash } from 'node:crypto';
import { BodyStreamError, openBodyStream } from './body-stream.ts';
import type { OpenedDetachedBody } from './open-envelope.ts';

/**
 * `sealed` decrypted chunk by chunk under the body's file key (each chunk given only once it
 * authenticated, as openBodyStream gives them), and at its end checked to be the length and
 * SHA-256 the sender signed. The checks come after the last chunk, so a reader keeps what it
 * was given only once the stream ended without throwing.
 * @throws BodyStreamError: the stream's own problems, then `size` or `digest`
 */
export async function* openDetachedBody(sealed: AsyncIterable<Uint8Array>, body: OpenedDetachedBody): AsyncGenerator<Buffer> {
  const hash = createHash('sha256');
  let size = 0;
  const measured = (async function* () {
    for await (const piece of sealed) {
      hash.update(piece);
      size += piece.length;
      yield piece;
    }
  })();
  yield* openBodyStream(measured, body.fileKey);
  if (size !== body.size) throw new BodyStreamError('size');
  if (hash.digest('base64url') !== body.digest) throw new BodyStreamError('digest');
}
