/**
 * Reading Temporal payloads as they appear in a history's proto JSON (`{ metadata, data }`, both
 * base64): the JSON value of a `json/plain` payload, and the envelopes inside any JSON value.
 */
import type { HistoryJson } from './audit-bundle.ts';

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A Payload's value as JSON, when it is `json/plain`; undefined for anything else. */
export function payloadValue(payload: unknown): unknown {
  if (!isRecord(payload)) return undefined;
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

/** The values of a `{ payloads: [...] }` member (activity input, result, workflow input…). */
export function payloadsOf(container: unknown): unknown[] {
  if (!isRecord(container) || !Array.isArray(container.payloads)) return [];
  return container.payloads.map(payloadValue);
}

/** True for a value shaped like an envelope (it may still be malformed or altered). */
export function looksLikeEnvelope(value: unknown): value is Record<string, unknown> {
  return isRecord(value) && 'v' in value && 'binding' in value && 'jwe' in value;
}

/** Every envelope-shaped value inside `value`, depth first. */
export function envelopesIn(value: unknown): Array<Record<string, unknown>> {
  const found: Array<Record<string, unknown>> = [];
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(walk);
    if (!isRecord(node)) return;
    if (looksLikeEnvelope(node)) {
      found.push(node);
      return;
    }
    Object.values(node).forEach(walk);
  };
  walk(value);
  return found;
}

/** Every envelope-shaped value in any JSON payload of the histories' events. */
export function envelopesInHistories(histories: HistoryJson[]): Array<Record<string, unknown>> {
  const found: Array<Record<string, unknown>> = [];
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(walk);
    if (!isRecord(node)) return;
    const decoded = payloadValue(node);
    if (decoded !== undefined) {
      found.push(...envelopesIn(decoded));
      return;
    }
    Object.values(node).forEach(walk);
  };
  histories.forEach((history) => walk(history.events));
  return found;
}
