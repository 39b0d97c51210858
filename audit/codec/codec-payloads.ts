/**
 * Payloads as the remote codec protocol carries them: proto3 JSON, so `data` and every metadata
 * value are base64. Converting to and from JSON values for the codec server's own payloads.
 */

/** A payload in proto3 JSON. */
export interface JsonPayload {
  metadata?: Record<string, string>;
  data?: string;
}

const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');
const unb64 = (value: string) => Buffer.from(value, 'base64').toString('utf8');

/** The metadata value `name`, decoded; undefined when absent. */
export function metadataOf(payload: JsonPayload, name: string): string | undefined {
  const value = payload.metadata?.[name];
  return typeof value === 'string' ? unb64(value) : undefined;
}

/** The JSON value of a `json/plain` payload, or undefined for any other payload. */
export function jsonOf(payload: JsonPayload): unknown {
  if (metadataOf(payload, 'encoding') !== 'json/plain' || typeof payload.data !== 'string') return undefined;
  try {
    return JSON.parse(unb64(payload.data));
  } catch {
    return undefined;
  }
}

/** A `json/plain` payload holding `value`. */
export function jsonPayload(value: unknown): JsonPayload {
  return { metadata: { encoding: b64('json/plain') }, data: b64(JSON.stringify(value)) };
}

/** True for a body of the codec protocol: `{ payloads: [...] }` with payload objects. */
export function isPayloadsBody(body: unknown): body is { payloads: JsonPayload[] } {
  if (typeof body !== 'object' || body === null || !Array.isArray((body as { payloads?: unknown }).payloads)) return false;
  return (body as { payloads: unknown[] }).payloads.every((p) => typeof p === 'object' && p !== null && !Array.isArray(p));
}
