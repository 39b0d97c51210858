/**
 * Finds the envelopes a history carries (in activity inputs and results, workflow input and
 * result) and the organisations they name, reading only clear metadata: no key is needed.
 */
import { inspectEnvelope } from '../crypto/index.ts';
import type { HistoryJson } from './audit-bundle.ts';
import { blobRefsInHistories } from './bundle-blobs.ts';
import { envelopesInHistories } from './history-envelopes.ts';

/** What the envelopes in some histories name. */
export interface EnvelopeCensus {
  /** Every organisation an envelope names as sender or recipient, sorted. */
  orgs: string[];
  /** Distinct envelopes that passed inspection (one sent, then received as an input, counts once). */
  envelopes: number;
  /** Distinct blob references (older runs): envelopes too large for the history, stored as blobs. */
  blobs: number;
  /** Distinct detached bodies: large messages' sealed bodies, stored beside the history as blobs. */
  bodies: number;
  /** Envelope-shaped values that did not: malformed or altered (`audit verify`'s business). */
  unreadable: number;
}

/** Counts the envelopes in `histories` and collects the organisations they name. */
export function envelopeCensus(histories: HistoryJson[]): EnvelopeCensus {
  const orgs = new Set<string>();
  const distinct = new Set<string>();
  const bodies = new Set<string>();
  let unreadable = 0;
  for (const value of envelopesInHistories(histories)) {
    try {
      const { binding, detached } = inspectEnvelope(value);
      if (detached) bodies.add(detached.digest);
      orgs.add(binding.from);
      binding.to.forEach((org) => orgs.add(org));
      const jwe = value.jwe as { iv: string; tag: string };
      distinct.add(`${jwe.iv}.${jwe.tag}`);
    } catch {
      unreadable += 1;
    }
  }
  // A blob's sender and recipients are in its reference's clear binding, as on an envelope.
  const blobs = new Set<string>();
  for (const ref of blobRefsInHistories(histories)) {
    if (typeof ref.binding.from === 'string') orgs.add(ref.binding.from);
    if (Array.isArray(ref.binding.to)) ref.binding.to.forEach((org) => typeof org === 'string' && orgs.add(org));
    blobs.add(ref.digest);
  }
  return { orgs: [...orgs].sort(), envelopes: distinct.size, blobs: blobs.size, bodies: bodies.size, unreadable };
}
