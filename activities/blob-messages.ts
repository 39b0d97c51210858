/**
 * Sealed envelopes above a size threshold travel as blobs (DESIGN.md "Large payloads"): the
 * sender stores the envelope's canonical JSON in the blob store and returns a reference
 * `{ kind: 'blob', digest, size, binding }` for the history; a receiver fetches the blob and
 * checks it before it is opened like any inline envelope. The digest is the envelope's
 * `envelopeDigest` (SHA-256 of its canonical JSON), so a step's attestation, the replay guard and
 * `parley audit verify` name a blob and its envelope alike.
 */
import { createHash } from 'node:crypto';
import type { Envelope, SealedMessage } from '../common/envelope.ts';
import { isEnvelopeRef } from '../common/envelope.ts';
import { ErrorCode, ParleyError } from '../common/errors.ts';
import { canonicalJson, nextTurnIfLarge, TAMPERED_MESSAGE } from '../crypto/index.ts';
import type { BlobStore } from './blob-store.ts';


/** Envelopes larger than this (serialised) travel as blobs by default: far below Temporal's 2 MB payload limit. */
export const DEFAULT_BLOB_THRESHOLD_BYTES = 256 * 1024;

export interface BlobOptions {
  /** Without a store, every envelope stays inline (and one too large for Temporal fails the step there). */
  store: BlobStore | undefined;
  thresholdBytes: number;
}

/**
 * What `envelope` travels as — itself, or (above the threshold) a reference to the blob just
 * stored — and its digest (`envelopeDigest`, which the step's attestation names). The canonical
 * JSON is made and hashed once for both: for a large message it is the costly part.
 */
export async function messageFor(envelope: Envelope, options: BlobOptions): Promise<{ message: SealedMessage; digest: string }> {
  const text = canonicalJson(envelope);
  await nextTurnIfLarge(text.length);
  const bytes = Buffer.from(text, 'utf8');
  await nextTurnIfLarge(bytes.length);
  const digest = createHash('sha256').update(bytes).digest('base64url');
  await nextTurnIfLarge(bytes.length);
  if (options.store === undefined || bytes.length <= options.thresholdBytes) return { message: envelope, digest };
  await options.store.put(envelope.binding.runId, digest, bytes);
  return { message: { kind: 'blob', digest, size: bytes.length, binding: envelope.binding }, digest };
}

/**
 * The envelope `message` stands for: itself when inline, else its blob fetched and checked — its
 * length, its SHA-256 against the reference's digest, and its clear binding against the
 * reference's (so the blob of another envelope under a right-looking reference is refused). The
 * caller then opens it as any envelope (signatures, binding to where it is opened, replay).
 * @throws ParleyError EnvelopeTampered (vague; `details.reason` says which check) or BlobMissing.
 */
export async function envelopeOf(message: SealedMessage, store: BlobStore | undefined): Promise<Envelope> {
  if (!isEnvelopeRef(message)) return message;
  const { runId } = message.binding;
  const refuse = (reason: string): never => {
    throw new ParleyError(ErrorCode.EnvelopeTampered, TAMPERED_MESSAGE, { runId, reason });
  };
  if (store === undefined) {
    throw new ParleyError(ErrorCode.BlobMissing, `An input of run "${runId}" is a blob, and this site has no blob store configured. Give the worker the API's URL and site credential (site.yaml api:).`, { runId });
  }
  if (!Number.isSafeInteger(message.size) || message.size < 0 || typeof message.digest !== 'string') refuse('blob-ref');
  const bytes = await store.get(runId, message.digest, message.size);
  if (bytes.byteLength !== message.size) refuse('blob-size');
  await nextTurnIfLarge(bytes.byteLength);
  if (createHash('sha256').update(bytes).digest('base64url') !== message.digest) refuse('blob-digest');
  await nextTurnIfLarge(bytes.byteLength);
  let envelope: Envelope;
  try {
    envelope = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8')) as Envelope;
  } catch {
    return refuse('blob-json');
  }
  await nextTurnIfLarge(bytes.byteLength);
  if (typeof envelope !== 'object' || envelope === null || canonicalJson(envelope.binding ?? null) !== canonicalJson(message.binding)) refuse('blob-binding');
  return envelope;
}
