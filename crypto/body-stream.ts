/**
 * A large message's body, encrypted as a stream (DESIGN.md "Large payloads"): the ciphertext
 * travels as a blob beside its envelope, and neither the sender nor a receiver ever holds the
 * whole body, its base64 or its JSON in memory. The envelope stays small and inline: its signed
 * claims carry the body's key and the blob's SHA-256 and length (seal-envelope.ts), so the body
 * is bound to its sender and its place exactly as an inline body is.
 *
 * The format is age's payload (C2SP age v1, "Payload"), chosen because it is published, analysed
 * and has independent implementations to test against:
 *
 *   blob        = nonce (16 random bytes) ‖ chunk₀ ‖ chunk₁ ‖ … ‖ chunkₙ
 *   payload key = HKDF-SHA-256(ikm = file key (16 bytes), salt = nonce, info = "payload"), 32 bytes
 *   chunkᵢ      = ChaCha20-Poly1305(payload key, nonceᵢ, plaintextᵢ): 64 KiB of plaintext + 16 of tag
 *   nonceᵢ      = i as 11 bytes big-endian ‖ 0x01 for the last chunk, 0x00 for the others
 *
 * This is the STREAM construction of Hoang, Reyhanitabar, Rogaway and Vizár ("Online
 * Authenticated-Encryption and its Nonce-Reuse Misuse-Resistance", CRYPTO 2015): every chunk is
 * authenticated on its own and knows its position and whether it is last, so a reader refuses a
 * reordered, dropped, truncated or extended stream as soon as it meets it. Every chunk but the
 * last is full; the last is empty only when the whole body is.
 *
 * @see https://github.com/C2SP/C2SP/blob/main/age.md#payload
 * @see https://www.rfc-editor.org/rfc/rfc8439 (ChaCha20-Poly1305), rfc5869 (HKDF)
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

/** The file key's length: age's, 128 bits. */
export const FILE_KEY_BYTES = 16;
export const STREAM_NONCE_BYTES = 16;
/** Plaintext per chunk: every chunk but the last holds exactly this much. */
export const CHUNK_BYTES = 64 * 1024;
const TAG_BYTES = 16;
const SEALED_CHUNK_BYTES = CHUNK_BYTES + TAG_BYTES;
// 11 bytes of counter: far beyond any blob, but checked rather than wrapped.
const MAX_CHUNKS = 2 ** 48;

/**
 * Why a stream was refused; for the site's log only (as envelope-format.ts's TamperReason). The
 * last two are a detached body's (./open-detached-body.ts): not the length or SHA-256 signed.
 */
export type BodyStreamProblem = 'too-short' | 'chunk-invalid' | 'truncated' | 'empty-last-chunk' | 'size' | 'digest';

/** A stream that did not decrypt as sealed. */
export class BodyStreamError extends Error {
  constructor(readonly problem: BodyStreamProblem) {
    super(`The message body did not decrypt as sealed (${problem}).`);
    this.name = 'BodyStreamError';
  }
}

/** A fresh file key for one body. */
export function newFileKey(): Buffer {
  return randomBytes(FILE_KEY_BYTES);
}

/** The blob's length for a body of `plaintextBytes`: nonce, then each chunk with its tag. */
export function sealedBodyLength(plaintextBytes: number): number {
  const chunks = Math.max(1, Math.ceil(plaintextBytes / CHUNK_BYTES));
  return STREAM_NONCE_BYTES + plaintextBytes + chunks * TAG_BYTES;
}

function payloadKey(fileKey: Uint8Array, nonce: Uint8Array): Buffer {
  if (fileKey.length !== FILE_KEY_BYTES) throw new TypeError(`body stream: the file key must be ${FILE_KEY_BYTES} bytes`);
  return Buffer.from(hkdfSync('sha256', fileKey, nonce, 'payload', 32));
}

function chunkNonce(counter: number, last: boolean): Buffer {
  const nonce = Buffer.alloc(12);
  // 11 bytes big-endian: the top 5 stay zero below 2^48.
  nonce.writeUIntBE(counter, 5, 6);
  nonce[11] = last ? 1 : 0;
  return nonce;
}

function sealChunk(key: Buffer, counter: number, last: boolean, plaintext: Uint8Array): Buffer {
  if (counter >= MAX_CHUNKS) throw new RangeError('body stream: too many chunks');
  const cipher = createCipheriv('chacha20-poly1305', key, chunkNonce(counter, last), { authTagLength: TAG_BYTES });
  return Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
}

function openChunk(key: Buffer, counter: number, last: boolean, sealed: Buffer): Buffer | undefined {
  if (counter >= MAX_CHUNKS) return undefined;
  const decipher = createDecipheriv('chacha20-poly1305', key, chunkNonce(counter, last), { authTagLength: TAG_BYTES });
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
  const plaintext = decipher.update(sealed.subarray(0, sealed.length - TAG_BYTES));
  try {
    decipher.final();
  } catch {
    return undefined;
  }
  return plaintext;
}

/**
 * Gathers `source` into pieces of exactly `sizeOf(i)` bytes for the i-th piece (the last one
 * shorter). Every piece yielded is a copy of its own: a source may reuse its buffer once asked
 * for the next piece (a file reader filling one buffer does), while the callers hold a piece
 * across that ask (the last chunk is known only when the next one comes). One copy of 64 KiB
 * costs microseconds beside its ChaCha20-Poly1305.
 */
async function* rechunk(source: AsyncIterable<Uint8Array>, sizeOf: (index: number) => number): AsyncGenerator<Buffer> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let index = 0;
  for await (const piece of source) {
    let buffer = Buffer.isBuffer(piece) ? piece : Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
    while (pendingBytes + buffer.length >= sizeOf(index)) {
      const take = sizeOf(index++) - pendingBytes;
      yield Buffer.concat([...pending, buffer.subarray(0, take)]);
      pending = [];
      pendingBytes = 0;
      buffer = buffer.subarray(take);
    }
    if (buffer.length > 0) {
      pending.push(Buffer.from(buffer)); // a copy: the source may refill its buffer
      pendingBytes += buffer.length;
    }
  }
  if (pendingBytes > 0) yield Buffer.concat(pending);
}

/**
 * The blob of `body` under `fileKey`, as it streams: the nonce first, then one sealed chunk per
 * 64 KiB. `nonce` is for tests against published vectors; leave it out.
 */
export async function* sealBodyStream(body: AsyncIterable<Uint8Array>, fileKey: Uint8Array, nonce: Uint8Array = randomBytes(STREAM_NONCE_BYTES)): AsyncGenerator<Buffer> {
  if (nonce.length !== STREAM_NONCE_BYTES) throw new TypeError(`body stream: the nonce must be ${STREAM_NONCE_BYTES} bytes`);
  const key = payloadKey(fileKey, nonce);
  yield Buffer.from(nonce);
  // One chunk is held back until the next arrives: only then is it known not to be the last.
  let held: Buffer | undefined;
  let counter = 0;
  for await (const chunk of rechunk(body, () => CHUNK_BYTES)) {
    if (held !== undefined) yield sealChunk(key, counter++, false, held);
    held = chunk;
  }
  yield sealChunk(key, counter, true, held ?? Buffer.alloc(0));
}

/**
 * The body of a blob sealed by {@link sealBodyStream}, as it streams. Each chunk is checked
 * before it is given out; whoever consumes this must still treat what it got as unusable until
 * the stream has ended without an error (a truncated blob is known only at its end).
 * @throws BodyStreamError at the first chunk that does not open (bytes after the last chunk make
 *   it one), or at the end of a stream that stops before its last chunk.
 */
export async function* openBodyStream(blob: AsyncIterable<Uint8Array>, fileKey: Uint8Array): AsyncGenerator<Buffer> {
  let key: Buffer | undefined;
  let held: Buffer | undefined;
  let counter = 0;
  let sawNonce = false;
  // The nonce, then pieces of one sealed chunk each (the last shorter).
  for await (const piece of rechunk(blob, (i) => (i === 0 ? STREAM_NONCE_BYTES : SEALED_CHUNK_BYTES))) {
    if (!sawNonce) {
      if (piece.length < STREAM_NONCE_BYTES) throw new BodyStreamError('too-short');
      key = payloadKey(fileKey, piece);
      sawNonce = true;
      continue;
    }
    if (held !== undefined) {
      const plaintext = openChunk(key!, counter++, false, held);
      if (plaintext === undefined) throw new BodyStreamError('chunk-invalid');
      yield plaintext;
    }
    // Pieces are whole sealed chunks, so only the last can be short: bytes after a last chunk
    // join it (or follow it as a piece of their own) and it no longer opens as the last.
    held = piece;
  }
  if (!sawNonce) throw new BodyStreamError('too-short');
  if (held === undefined || held.length < TAG_BYTES) throw new BodyStreamError('truncated');
  const last = openChunk(key!, counter, true, held);
  if (last === undefined) {
    // A full chunk that opens as not-last is a stream cut at a chunk boundary.
    throw new BodyStreamError(held.length === SEALED_CHUNK_BYTES && openChunk(key!, counter, false, held) !== undefined ? 'truncated' : 'chunk-invalid');
  }
  if (last.length === 0 && counter > 0) throw new BodyStreamError('empty-last-chunk');
  yield last;
}
