/**
 * The envelopes inside a history's payloads (decoded by ./proto-payloads.ts) or inside any JSON
 * value.
 */
import type { HistoryJson } from './audit-bundle.ts';
import { isRecord, jsonOf } from './proto-payloads.ts';

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
    const decoded = jsonOf(node);
    if (decoded !== undefined) {
      found.push(...envelopesIn(decoded));
      return;
    }
    Object.values(node).forEach(walk);
  };
  histories.forEach((history) => walk(history.events));
  return found;
}
