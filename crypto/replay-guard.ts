/**
 * Replay protection for opened envelopes. The relay (API, Temporal history) holds every envelope,
 * so it could hand a site the same message twice — counting a share twice in a secure sum — or an
 * old message at a later step. A site admits each (run, sender, seq) once, for one envelope at one
 * step; opening that very envelope again at that step is allowed, because activities retry.
 */
import { createHash } from 'node:crypto';
import type { Envelope, EnvelopeBinding } from '../common/envelope.ts';
import { canonicalJson } from './canonical-json.ts';

/** Decides whether an envelope that verified may be used. Persistent guards live in activities/. */
export interface ReplayGuard {
  /**
   * Records (binding.runId, binding.from, binding.seq) for this envelope digest and step. Returns
   * false when that triple was already admitted for a different digest or a different step; true
   * when it is new or is the same envelope at the same step again.
   */
  admit(binding: EnvelopeBinding, digest: string): Promise<boolean>;
}

/** An in-memory guard, for one process's lifetime (tests, the researcher's client, benchmarks). */
export interface MemoryReplayGuard extends ReplayGuard {
  /** Forgets everything admitted for a run, when it ends. */
  forget(runId: string): void;
}

/** A {@link ReplayGuard} held in memory. */
export function createMemoryReplayGuard(): MemoryReplayGuard {
  const runs = new Map<string, Map<string, { step: string; digest: string }>>();
  return {
    async admit(binding, digest) {
      let seen = runs.get(binding.runId);
      if (seen === undefined) runs.set(binding.runId, (seen = new Map()));
      // "\0" cannot occur in an org id, so (from, seq) maps to one key only.
      const key = `${binding.from}\u0000${binding.seq}`;
      const first = seen.get(key);
      if (first !== undefined) return first.step === binding.step && first.digest === digest;
      seen.set(key, { step: binding.step, digest });
      return true;
    },
    forget(runId) {
      runs.delete(runId);
    },
  };
}

/**
 * The SHA-256 (base64url) of an envelope's canonical JSON (canonical-json.ts), outer signature
 * included. Equal for the same envelope however its JSON was spelled or its object members
 * ordered in transit; different when any value differs.
 */
export function envelopeDigest(envelope: Envelope): string {
  return createHash('sha256').update(canonicalJson(envelope), 'utf8').digest('base64url');
}
