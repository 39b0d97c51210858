/**
 * Detached bodies beside a run's histories (DESIGN.md "Large payloads"): a large message travels
 * as a small envelope in the history, whose clear `detached: { digest, size }` — under the
 * sender's outer signature — names its body, sealed as a stream (crypto/body-stream.ts) and kept
 * in the API's blob store. An audit bundle carries those sealed bodies as files beside it
 * (./bundle-bodies.ts), so `audit verify` and `audit open` need no server.
 *
 * The check here is public: a body is the one its envelope names when its length and SHA-256 are
 * those of the clear reference, and the reference is covered by the sender's signature, so no
 * key is needed to tell a substituted or truncated body from the sender's. Opening it (with the
 * key from the envelope's claims) is open-detached-body.ts's job.
 */
import { createHash } from 'node:crypto';
import type { DetachedBodyRef, EnvelopeBinding } from '../common/envelope.ts';
import { inspectEnvelope } from '../crypto/index.ts';
import type { HistoryJson } from './audit-bundle.ts';
import { envelopesInHistories } from './history-envelopes.ts';

/** A detached body as a history names it: its clear reference and the envelope's clear binding. */
export interface DetachedBody extends DetachedBodyRef {
  binding: EnvelopeBinding;
}

/**
 * Where a bundle's sealed bodies are read from. `read` gives the bytes stored under `digest`, or
 * undefined when there are none; the bytes are unchecked (checkDetachedBody checks them).
 */
export interface BodySource {
  /** Names the place in messages, e.g. `the bodies directory ./run.audit.bodies`. */
  readonly where: string;
  read(digest: string): Promise<AsyncIterable<Uint8Array> | undefined>;
}

/** A source with no bodies: a plain history, or a bundle exported before bodies were detached. */
export const NO_BODIES: BodySource = { where: 'the bundle (it carries no bodies)', read: async () => undefined };

/** Every distinct detached body the histories' envelopes name (by digest), in the order first seen. */
export function detachedBodiesInHistories(histories: HistoryJson[]): DetachedBody[] {
  const found = new Map<string, DetachedBody>();
  for (const value of envelopesInHistories(histories)) {
    let info;
    try {
      info = inspectEnvelope(value);
    } catch {
      continue; // malformed: `audit verify` reports it as such
    }
    if (info.detached && !found.has(info.detached.digest)) found.set(info.detached.digest, { ...info.detached, binding: info.binding });
  }
  return [...found.values()];
}

/** Why a body is not the one its reference names: absent, or of another length or SHA-256. */
export type BodyProblem = 'body-missing' | 'body-size' | 'body-digest';

/**
 * Reads `ref`'s body from `source` once, hashing it as it streams, and stopping as soon as it is
 * longer than the reference says (a store cannot make an auditor read more than was signed).
 */
export async function checkDetachedBody(ref: DetachedBodyRef, source: BodySource): Promise<{ ok: true } | { ok: false; problem: BodyProblem }> {
  const stream = await source.read(ref.digest);
  if (stream === undefined) return { ok: false, problem: 'body-missing' };
  const hash = createHash('sha256');
  let size = 0;
  for await (const piece of stream) {
    size += piece.length;
    if (size > ref.size) return { ok: false, problem: 'body-size' };
    hash.update(piece);
  }
  if (size !== ref.size) return { ok: false, problem: 'body-size' };
  return hash.digest('base64url') === ref.digest ? { ok: true } : { ok: false, problem: 'body-digest' };
}

/** A source over bodies held in memory (digest → sealed bytes): for tests and small tools. */
export function memoryBodies(bodies: ReadonlyMap<string, Uint8Array>, where = 'the bundle'): BodySource {
  return {
    where,
    async read(digest) {
      const bytes = bodies.get(digest);
      return bytes === undefined ? undefined : (async function* () { yield bytes; })();
    },
  };
}
