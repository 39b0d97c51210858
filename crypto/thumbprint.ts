/**
 * JWK thumbprints (RFC 7638): the stable name of a key. Parley publishes each public key with its
 * thumbprint, uses it as the key's `kid`, pins it at first use, and logs its short fingerprint.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7638
 */
import { createHash } from 'node:crypto';
import { calculateJwkThumbprint } from 'jose';
import type { JWK } from 'jose';

/** A SHA-256 thumbprint is 32 bytes: 43 base64url characters, no padding. */
const THUMBPRINT = /^[A-Za-z0-9_-]{43}$/;

/**
 * The RFC 7638 SHA-256 thumbprint of a JWK, base64url without padding. Only the key type's
 * required members count, so a private JWK has the same thumbprint as its public half.
 *
 * @throws TypeError (or jose's JWKInvalid) when the JWK lacks a required member.
 * @example await jwkThumbprint({ kty: 'RSA', e: 'AQAB', n: '0vx7…' }) // 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs' (RFC 7638 §3.1)
 * @see https://www.rfc-editor.org/rfc/rfc7638#section-3
 */
export async function jwkThumbprint(jwk: JWK): Promise<string> {
  return calculateJwkThumbprint(jwk, 'sha256');
}

/**
 * The same thumbprint as {@link jwkThumbprint}, computed synchronously (node:crypto), for
 * validators that cannot await. Supports the kty values Parley and RFC 7638 use: EC, OKP, RSA, oct.
 *
 * @throws TypeError when the JWK lacks a required member or has another kty.
 */
export function jwkThumbprintSync(jwk: JWK): string {
  const input = JSON.stringify(requiredMembers(jwk));
  return createHash('sha256').update(input, 'utf8').digest('base64url');
}

/** True for a string shaped like a SHA-256 JWK thumbprint. */
export function isThumbprint(value: unknown): value is string {
  return typeof value === 'string' && THUMBPRINT.test(value);
}

/**
 * A short human form of a thumbprint for logs and prompts: its first 16 characters in groups of
 * four, e.g. `NzbL:sXh8:uDCc:d-6M`. Enough to tell keys apart by eye; pin and compare the full
 * thumbprint, never the fingerprint.
 *
 * @throws TypeError when `thumbprint` is not a SHA-256 JWK thumbprint.
 */
export function fingerprint(thumbprint: string): string {
  if (!isThumbprint(thumbprint)) {
    throw new TypeError('fingerprint() expects a SHA-256 JWK thumbprint (43 base64url characters)');
  }
  return thumbprint.slice(0, 16).match(/.{4}/g)!.join(':');
}

// RFC 7638 §3.2: the required members only, in lexicographic order, no whitespace. Insertion order
// below is already lexicographic, which is what JSON.stringify preserves.
function requiredMembers(jwk: JWK): Record<string, string> {
  const need = (name: 'crv' | 'e' | 'k' | 'n' | 'x' | 'y'): string => {
    const value = jwk[name];
    if (typeof value !== 'string' || value === '') {
      throw new TypeError(`JWK "${name}" member is missing or not a string`);
    }
    return value;
  };
  switch (jwk.kty) {
    case 'EC':
      return { crv: need('crv'), kty: 'EC', x: need('x'), y: need('y') };
    case 'OKP':
      return { crv: need('crv'), kty: 'OKP', x: need('x') };
    case 'RSA':
      return { e: need('e'), kty: 'RSA', n: need('n') };
    case 'oct':
      return { k: need('k'), kty: 'oct' };
    default:
      throw new TypeError('JWK "kty" member is missing or not one of EC, OKP, RSA, oct');
  }
}
