/**
 * Temporal payloads in proto3 JSON (`{ metadata, data }`, `data` and every metadata value
 * base64), as an exported history holds them and as the remote codec protocol carries them.
 * The one decoder for the audit tools and the codec server: the JSON value of a `json/plain`
 * payload, and back.
 */

/** A payload in proto3 JSON. */
export interface JsonPayload {
  metadata?: Record<string, string>;
  data?: string;
}

const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');
const unb64 = (value: string) => Buffer.from(value, 'base64').toString('utf8');

/** True for a JSON object (not an array, not null). */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The metadata value `name` of a payload, decoded; undefined when absent or not a payload. */
export function metadataOf(payload: unknown, name: string): string | undefined {
  if (!isRecord(payload) || !isRecord(payload.metadata)) return undefined;
  const value = payload.metadata[name];
  return typeof value === 'string' ? unb64(value) : undefined;
}

/** The JSON value of a `json/plain` payload; undefined for any other payload, or anything else. */
export function jsonOf(payload: unknown): unknown {
  if (!isRecord(payload) || typeof payload.data !== 'string' || metadataOf(payload, 'encoding') !== 'json/plain') return undefined;
  try {
    return JSON.parse(unb64(payload.data));
  } catch {
    return undefined;
  }
}

/** The values of a `{ payloads: [...] }` member (activity input, result, workflow input…). */
export function payloadsOf(container: unknown): unknown[] {
  if (!isRecord(container) || !Array.isArray(container.payloads)) return [];
  return container.payloads.map(jsonOf);
}

/** A `json/plain` payload holding `value`. */
export function jsonPayload(value: unknown): JsonPayload {
  return { metadata: { encoding: b64('json/plain') }, data: b64(JSON.stringify(value)) };
}

/** True for a body of the codec protocol: `{ payloads: [...] }` with payload objects. */
export function isPayloadsBody(body: unknown): body is { payloads: JsonPayload[] } {
  return isRecord(body) && Array.isArray(body.payloads) && body.payloads.every(isRecord);
}
