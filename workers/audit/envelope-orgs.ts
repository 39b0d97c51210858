/**
 * Finds the envelopes a history carries (in activity inputs and results, workflow input and
 * result) and the organisations they name, reading only clear metadata: no key is needed.
 */
import { inspectEnvelope } from '../../crypto/index.ts';
import type { HistoryJson } from './audit-bundle.ts';

/** What the envelopes in some histories name. */
export interface EnvelopeCensus {
  /** Every organisation an envelope names as sender or recipient, sorted. */
  orgs: string[];
  /** Distinct envelopes that passed inspection (one sent, then received as an input, counts once). */
  envelopes: number;
  /** Envelope-shaped values that did not: malformed or altered (`audit verify`'s business). */
  unreadable: number;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A Payload's value as JSON, when it is JSON; payloads in proto JSON are `{ metadata, data }` in base64. */
function payloadValue(payload: Record<string, unknown>): unknown {
  const metadata = payload.metadata;
  if (!isRecord(metadata) || typeof payload.data !== 'string') return undefined;
  const encoding = typeof metadata.encoding === 'string' ? Buffer.from(metadata.encoding, 'base64').toString('utf8') : '';
  if (encoding !== 'json/plain') return undefined;
  try {
    return JSON.parse(Buffer.from(payload.data, 'base64').toString('utf8'));
  } catch {
    return undefined;
  }
}

const looksLikeEnvelope = (value: Record<string, unknown>) => 'v' in value && 'binding' in value && 'jwe' in value;

/** Counts the envelopes in `histories` and collects the organisations they name. */
export function envelopeCensus(histories: HistoryJson[]): EnvelopeCensus {
  const orgs = new Set<string>();
  const distinct = new Set<string>();
  let unreadable = 0;
  const inValue = (value: unknown): void => {
    if (Array.isArray(value)) return value.forEach(inValue);
    if (!isRecord(value)) return;
    if (looksLikeEnvelope(value)) {
      try {
        const { binding } = inspectEnvelope(value);
        orgs.add(binding.from);
        binding.to.forEach((org) => orgs.add(org));
        const jwe = value.jwe as { iv: string; tag: string };
        distinct.add(`${jwe.iv}.${jwe.tag}`);
      } catch {
        unreadable += 1;
      }
      return;
    }
    Object.values(value).forEach(inValue);
  };
  const inHistory = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(inHistory);
    if (!isRecord(node)) return;
    const decoded = payloadValue(node);
    if (decoded !== undefined) return inValue(decoded);
    Object.values(node).forEach(inHistory);
  };
  histories.forEach((history) => inHistory(history.events));
  return { orgs: [...orgs].sort(), envelopes: distinct.size, unreadable };
}
