/**
 * Strict base64url (RFC 4648 §5, no padding) for crypto/. Strict means canonical: the spare bits
 * of the last character must be zero, so every byte string has exactly one spelling and any
 * change to an envelope's text is a change to its bytes (and to its digest).
 */

const ALPHABET = /^[A-Za-z0-9_-]*$/;

/** True when `value` is canonical base64url, and, if `byteLength` is given, decodes to that many bytes. */
export function isBase64url(value: unknown, byteLength?: number): value is string {
  if (typeof value !== 'string' || value.length % 4 === 1 || !ALPHABET.test(value)) return false;
  if (byteLength !== undefined && decodedLength(value) !== byteLength) return false;
  // Only the last character can carry spare bits: 4 of them after 2 leftover characters, 2 after 3.
  const spare = SPARE_BITS[value.length % 4]!;
  return spare === 0 || (sextet(value.charCodeAt(value.length - 1)) & spare) === 0;
}

const SPARE_BITS = [0, 0, 0b1111, 0b11];

function sextet(code: number): number {
  if (code >= 65 && code <= 90) return code - 65; // A-Z
  if (code >= 97 && code <= 122) return code - 71; // a-z
  if (code >= 48 && code <= 57) return code + 4; // 0-9
  return code === 45 ? 62 : 63; // '-' or '_'
}

/** The number of bytes a base64url string of this length decodes to. */
export function decodedLength(value: string): number {
  return Math.floor((value.length * 3) / 4);
}

/** Decodes base64url to a fresh Uint8Array (not a pooled Buffer). */
export function decodeBase64url(value: string): Uint8Array {
  return new Uint8Array(Buffer.from(value, 'base64url'));
}

export function encodeBase64url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}
