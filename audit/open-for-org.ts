/**
 * `parley audit open`'s core: an organisation opens, from a run's histories, only the envelopes
 * sealed for it — each verified (outer and inner signature against the sender's published key,
 * binding to the run it was found in) as a site would at a step. The rest it lists, unopened.
 */
import { createMemoryReplayGuard, envelopeDigest, inspectEnvelope, openEnvelope, type OrgKeys, type OrgPublicKeys } from '../crypto/index.ts';
import { ErrorCode, isParleyError } from '../common/errors.ts';
import type { BundlePayloads } from './audit-bundle.ts';
import { blobRefsInHistories, envelopeOfBlobRef } from './bundle-blobs.ts';
import { NO_BODIES } from './detached-bodies.ts';
import { envelopesInHistories } from './history-envelopes.ts';
import { readDetachedBody } from './open-detached-body.ts';
import type { HistoryToVerify } from './verify-history.ts';

export interface OpenedEntry {
  workflowId: string;
  step: string;
  from: string;
  to: string[];
  seq: number;
  /** opened: the content as JSON (or text); not-for-you: sealed for others; refused: did not open. */
  status: 'opened' | 'not-for-you' | 'refused';
  /** For a message whose body travels detached: the sealed body's clear reference (never its key). */
  detached?: { digest: string; size: number };
  content?: unknown;
  /** For a refusal: the error code and, from the envelope's own checks, why. */
  problem?: string;
}

const decoder = new TextDecoder();

function contentOf(body: Uint8Array): unknown {
  const text = decoder.decode(body);
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * Every distinct envelope in `histories`, opened when it was sealed for `keys.org`; an envelope
 * stored as a blob (older runs) is taken from `payloads.blobs` once it matches its reference, and
 * refused otherwise; a detached body is read from `payloads.bodies` and opened only once it is
 * the one the sender signed (./open-detached-body.ts).
 */
export async function openForOrg(histories: HistoryToVerify[], keys: OrgKeys, publicKeys: Readonly<Record<string, OrgPublicKeys>>, payloads: BundlePayloads = {}): Promise<OpenedEntry[]> {
  const blobs = payloads.blobs ?? {};
  const bodies = payloads.bodies ?? NO_BODIES;
  const entries: OpenedEntry[] = [];
  // One guard for the run: the same (sender, seq) as two different envelopes is refused as a replay.
  const replayGuard = createMemoryReplayGuard();
  for (const { workflowId, history } of histories) {
    const seen = new Set<string>();
    const found: unknown[] = envelopesInHistories([history]);
    for (const ref of blobRefsInHistories([history])) {
      const resolved = envelopeOfBlobRef(ref, blobs);
      if ('envelope' in resolved) found.push(resolved.envelope);
      else if (!seen.has(`blob:${ref.digest}`)) {
        seen.add(`blob:${ref.digest}`);
        const { binding } = ref;
        const mine = Array.isArray(binding.to) && binding.to.includes(keys.org);
        entries.push({ workflowId, step: binding.step, from: binding.from, to: binding.to, seq: binding.seq, status: mine ? 'refused' : 'not-for-you', ...(mine ? { problem: `ERR_ENVELOPE_TAMPERED (${resolved.problem})` } : {}) });
      }
    }
    for (const value of found) {
      let digest: string;
      let info;
      try {
        digest = envelopeDigest(value as never);
        info = inspectEnvelope(value);
      } catch {
        continue; // malformed: `parley audit verify` reports it
      }
      if (seen.has(digest)) continue;
      seen.add(digest);
      const { binding } = info;
      const entry: OpenedEntry = { workflowId, step: binding.step, from: binding.from, to: binding.to, seq: binding.seq, status: 'not-for-you', ...(info.detached ? { detached: info.detached } : {}) };
      entries.push(entry);
      if (!binding.to.includes(keys.org)) continue;
      try {
        const opened = await openEnvelope(value, {
          // Where it was found: an envelope bound to another run is refused (EnvelopeBinding).
          expect: { runId: workflowId, step: binding.step, recipient: keys.org },
          receiveKey: keys.receive.privateJwk,
          senderSigningKey: async (org) => publicKeys[org]?.sign.jwk,
          replayGuard,
        });
        const body = opened.detached ? await readDetachedBody(bodies, workflowId, opened.detached) : opened.body;
        entry.status = 'opened';
        entry.content = contentOf(body);
      } catch (err) {
        if (!isParleyError(err)) throw err;
        entry.status = 'refused';
        // A body missing from the bundle is the auditor's to fix, so its whole sentence is shown.
        entry.problem = err.code === ErrorCode.BlobMissing ? `${err.code}: ${err.message}` : `${err.code}${typeof err.details.reason === 'string' ? ` (${err.details.reason})` : ''}`;
      }
    }
  }
  return entries;
}
