/**
 * Messages too large for a workflow history (DESIGN.md "Large payloads"). A message whose
 * envelope would pass the threshold travels as a small envelope in the history and its body as a
 * blob: the body streams from the node socket's spill file through the stream cipher
 * (crypto/body-stream.ts) into a file in the step's outbox, hashed on the way, and from there into
 * the blob store; the envelope's signed claims carry the body's key and the blob's digest and
 * size. A receiver opens the envelope, then streams the blob through the cipher into the step's
 * input file, checking each chunk, the length and the digest, and keeps nothing of a blob that
 * fails. Neither side ever holds the body whole: memory stays at a few chunks whatever its size.
 *
 * Histories from before that carry references `{ kind: 'blob', digest, size, binding }` to whole
 * sealed envelopes stored as blobs: those are still read (envelopeOf), never made.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Envelope, SealedMessage } from '../common/envelope.ts';
import { isEnvelopeRef } from '../common/envelope.ts';
import { ErrorCode, ParleyError } from '../common/errors.ts';
import { BodyStreamError, canonicalJson, envelopeDigest, newFileKey, nextTurnIfLarge, openDetachedBody, sealBodyStream, TAMPERED_MESSAGE } from '../crypto/index.ts';
import type { OpenedDetachedBody, SealedBlobBody } from '../crypto/index.ts';
import type { BlobStore } from './blob-store.ts';

/** Envelopes that would be larger than this (serialised) travel as a small envelope and a blob: far below Temporal's 2 MB payload limit. */
export const DEFAULT_BLOB_THRESHOLD_BYTES = 256 * 1024;

export interface BlobOptions {
  /** Without a store, every envelope stays inline (and one too large for Temporal fails the step there). */
  store: BlobStore | undefined;
  thresholdBytes: number;
}

/** A message's body as the node socket kept it: its length, and its bytes whole or as a stream. */
export interface MessageBody {
  size: number;
  bytes(): Promise<Uint8Array>;
  stream(): AsyncIterable<Uint8Array>;
}

/** Seals a body inline, or, given a blob's key, digest and size, an envelope for that blob. */
export type SealBody = (body: { body: Uint8Array } | { detached: SealedBlobBody }) => Promise<Envelope>;

// An inline envelope's length for a body of `size` bytes: base64url twice (the JWS payload, then
// the JWE ciphertext), and a few kilobytes of headers and keys at most.
function inlineEnvelopeBytes(size: number): number {
  return Math.ceil((Math.ceil((size * 4) / 3) * 4) / 3) + 4096;
}

/**
 * Seals `body` for the history: inline when its envelope stays under the threshold (or there is no
 * store), else as a blob stored under `runId` before the envelope that names it is returned.
 * `scratchFile` is where the blob is written on its way (the step's private outbox); it is removed.
 * Returns the envelope and its digest (`envelopeDigest`, which the step's attestation names).
 */
export async function sealMessage(body: MessageBody, seal: SealBody, options: BlobOptions & { runId: string; scratchFile: string }): Promise<{ message: Envelope; digest: string }> {
  const { store } = options;
  if (store === undefined || inlineEnvelopeBytes(body.size) <= options.thresholdBytes) {
    const envelope = await seal({ body: await body.bytes() });
    return { message: envelope, digest: envelopeDigest(envelope) };
  }
  const fileKey = newFileKey();
  try {
    const blob = await writeBlob(sealBodyStream(body.stream(), fileKey), options.scratchFile);
    await store.put(options.runId, blob.digest, { size: blob.size, stream: createReadStream(options.scratchFile) });
    const envelope = await seal({ detached: { fileKey, ...blob } });
    return { message: envelope, digest: envelopeDigest(envelope) };
  } finally {
    fileKey.fill(0);
    await rm(options.scratchFile, { force: true });
  }
}

async function writeBlob(source: AsyncIterable<Uint8Array>, file: string): Promise<{ digest: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  await pipeline(Readable.from((async function* () {
    for await (const piece of source) {
      hash.update(piece);
      size += piece.length;
      yield piece;
    }
  })()), createWriteStream(file, { mode: 0o600 }));
  return { digest: hash.digest('base64url'), size };
}

/**
 * Writes the body of an opened envelope's blob to `file`: fetched from `store` as a stream,
 * opened chunk by chunk, and checked against the length and digest the sender signed. On any
 * refusal the file is removed, so nothing of a blob that fails is left for a container to read.
 * @throws ParleyError EnvelopeTampered (vague; `details.reason` says which check) or BlobMissing.
 */
export async function writeDetachedBody(store: BlobStore | undefined, runId: string, detached: OpenedDetachedBody, file: string): Promise<void> {
  if (store === undefined) throw noStore(runId);
  const source = await store.stream(runId, detached.digest, detached.size);
  try {
    await pipeline(Readable.from(openDetachedBody(source, detached)), createWriteStream(file, { mode: 0o644 }));
  } catch (err) {
    await rm(file, { force: true });
    if (err instanceof BodyStreamError) refuse(runId, `blob-${err.problem}`);
    throw err;
  }
}

function refuse(runId: string, reason: string): never {
  throw new ParleyError(ErrorCode.EnvelopeTampered, TAMPERED_MESSAGE, { runId, reason });
}

function noStore(runId: string): ParleyError {
  return new ParleyError(ErrorCode.BlobMissing, `An input of run "${runId}" is a blob, and this site has no blob store configured. Give the worker the API's URL and site credential (site.yaml api:).`, { runId });
}

/**
 * The envelope `message` stands for: itself when inline, else (a reference in an older history)
 * its blob fetched and checked — its length, its SHA-256 against the reference's digest, and its
 * clear binding against the reference's (so the blob of another envelope under a right-looking
 * reference is refused). The caller then opens it as any envelope.
 * @throws ParleyError EnvelopeTampered (vague; `details.reason` says which check) or BlobMissing.
 */
export async function envelopeOf(message: SealedMessage, store: BlobStore | undefined): Promise<Envelope> {
  if (!isEnvelopeRef(message)) return message;
  const { runId } = message.binding;
  if (store === undefined) throw noStore(runId);
  if (!Number.isSafeInteger(message.size) || message.size < 0 || typeof message.digest !== 'string') refuse(runId, 'blob-ref');
  const bytes = await store.get(runId, message.digest, message.size);
  if (bytes.byteLength !== message.size) refuse(runId, 'blob-size');
  await nextTurnIfLarge(bytes.byteLength);
  if (createHash('sha256').update(bytes).digest('base64url') !== message.digest) refuse(runId, 'blob-digest');
  await nextTurnIfLarge(bytes.byteLength);
  let envelope: Envelope;
  try {
    envelope = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8')) as Envelope;
  } catch {
    return refuse(runId, 'blob-json');
  }
  await nextTurnIfLarge(bytes.byteLength);
  if (typeof envelope !== 'object' || envelope === null || canonicalJson(envelope.binding ?? null) !== canonicalJson(message.binding)) refuse(runId, 'blob-binding');
  return envelope;
}
