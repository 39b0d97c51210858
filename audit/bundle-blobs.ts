/**
 * Blobs beside a run's histories (DESIGN.md "Large payloads"): a step's outcome carries a
 * reference `{ kind: 'blob', digest, size, binding }` for each envelope too large for the
 * history, and an audit bundle carries the blobs themselves, as the exact text the API stored,
 * so `audit verify` and `audit open` need no server. A blob is used only once its SHA-256 and
 * length match its reference and its clear binding is the reference's; then it is checked like
 * any inline envelope (signatures, binding, sequence, attestation).
 */
import { createHash } from 'node:crypto';
import type { EnvelopeRef } from '../common/envelope.ts';
import { canonicalJson } from '../crypto/index.ts';
import type { HistoryJson } from './audit-bundle.ts';
import { isRecord, jsonOf } from './proto-payloads.ts';

/** Digest → the blob's text (the envelope's canonical JSON), as an audit bundle carries them. */
export type BundleBlobs = Readonly<Record<string, string>>;

/** True for a value shaped like a blob reference (its blob may still be missing or wrong). */
export function looksLikeBlobRef(value: unknown): value is EnvelopeRef {
  return isRecord(value) && value.kind === 'blob' && typeof value.digest === 'string' && typeof value.size === 'number' && isRecord(value.binding);
}

/** Every blob reference inside a JSON value, depth first. */
export function blobRefsIn(value: unknown): EnvelopeRef[] {
  const found: EnvelopeRef[] = [];
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(walk);
    if (!isRecord(node)) return;
    if (looksLikeBlobRef(node)) return void found.push(node);
    Object.values(node).forEach(walk);
  };
  walk(value);
  return found;
}

/** Every blob reference in any JSON payload of the histories' events, depth first. */
export function blobRefsInHistories(histories: HistoryJson[]): EnvelopeRef[] {
  const found: EnvelopeRef[] = [];
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(walk);
    if (!isRecord(node)) return;
    const decoded = jsonOf(node);
    if (decoded !== undefined) return void found.push(...blobRefsIn(decoded));
    Object.values(node).forEach(walk);
  };
  histories.forEach((history) => walk(history.events));
  return found;
}

/** Reads one blob (e.g. GET /v1/blobs/{runId}/{digest} as an auditor), no more than `size` bytes. */
export type FetchBlob = (runId: string, digest: string, size: number) => Promise<Uint8Array>;

/** The blobs the histories refer to, fetched once each, unchecked (verify checks them). */
export async function fetchBundleBlobs(histories: HistoryJson[], fetchBlob: FetchBlob): Promise<Record<string, string>> {
  const blobs: Record<string, string> = {};
  for (const ref of blobRefsInHistories(histories)) {
    if (ref.digest in blobs) continue;
    blobs[ref.digest] = Buffer.from(await fetchBlob(ref.binding.runId, ref.digest, ref.size)).toString('utf8');
  }
  return blobs;
}

/**
 * The envelope `ref` stands for, from `blobs`, or why it cannot be had: missing, or not the
 * bytes the reference names (length, digest), or the blob of another envelope (binding).
 */
export function envelopeOfBlobRef(ref: EnvelopeRef, blobs: BundleBlobs): { envelope: unknown } | { problem: 'blob-missing' | 'blob-size' | 'blob-digest' | 'blob-json' | 'blob-binding' } {
  const text = Object.hasOwn(blobs, ref.digest) ? blobs[ref.digest] : undefined;
  if (typeof text !== 'string') return { problem: 'blob-missing' };
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length !== ref.size) return { problem: 'blob-size' };
  if (createHash('sha256').update(bytes).digest('base64url') !== ref.digest) return { problem: 'blob-digest' };
  let envelope: unknown;
  try {
    envelope = JSON.parse(text);
  } catch {
    return { problem: 'blob-json' };
  }
  if (!isRecord(envelope) || canonicalJson(envelope.binding ?? null) !== canonicalJson(ref.binding)) return { problem: 'blob-binding' };
  return { envelope };
}
