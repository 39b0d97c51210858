/**
 * The kinds of key Parley accepts (DESIGN.md "Keys and envelopes") and one validator for them.
 * Internal to crypto/: org-keys.ts, seal-envelope.ts and open-envelope.ts turn a problem into the
 * error that suits their caller. Problems name members and expected kinds, never a member's value,
 * so a message built from them cannot carry private key material.
 */
import type { JWK } from 'jose';
import { isBase64url } from './base64url.ts';
import { isThumbprint, jwkThumbprintSync } from './thumbprint.ts';

/** Key management for every recipient: ECDH-ES, its output wrapping a shared content key. */
export const RECEIVE_ALG = 'ECDH-ES+A256KW';

/** What a key pair is for: receiving envelopes (ECDH-ES) or signing them. */
export type KeyRole = 'receive' | 'sign';

/** One accepted (kty, crv) with the JOSE alg and use it serves. */
export interface KeyKind {
  readonly kty: 'OKP' | 'EC';
  readonly crv: string;
  readonly alg: string;
  readonly use: 'enc' | 'sig';
}

// Preferred kind first: generateOrgKeys uses it. P-256 is accepted for deployments whose keys
// were made elsewhere (DESIGN.md allows P-256 / ES256).
const KINDS: Readonly<Record<KeyRole, readonly KeyKind[]>> = {
  receive: [
    { kty: 'OKP', crv: 'X25519', alg: RECEIVE_ALG, use: 'enc' },
    { kty: 'EC', crv: 'P-256', alg: RECEIVE_ALG, use: 'enc' },
  ],
  sign: [
    { kty: 'OKP', crv: 'Ed25519', alg: 'Ed25519', use: 'sig' },
    { kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' },
  ],
};

/** The kind generateOrgKeys makes for a role. */
export function preferredKind(role: KeyRole): KeyKind {
  return KINDS[role][0]!;
}

// X25519, Ed25519 and P-256 all have 32-byte coordinates and private scalars.
const MEMBER_BYTES = 32;
const KNOWN_MEMBERS = new Set(['kty', 'crv', 'x', 'y', 'd', 'kid', 'alg', 'use']);

export interface JwkExpectation {
  role: KeyRole;
  visibility: 'public' | 'private';
  /** Strict: kid, alg and use are required and no other members are allowed (key files, published keys). */
  strict: boolean;
}

/**
 * What is wrong with `value` as a key of the expected role and visibility, or undefined when it is
 * fine. A present `kid` must be the key's RFC 7638 thumbprint.
 */
export function jwkProblem(value: unknown, expected: JwkExpectation): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'must be a JWK object';
  const verdict = `${expected.role}/${expected.visibility}/${expected.strict}`;
  if (passed.get(value)?.has(verdict) === true) return undefined;
  const problem = findProblem(value as Record<string, unknown>, expected);
  // Keys are checked on every seal and open. A frozen JWK cannot change, so its verdict can be
  // remembered; jose freezes every JWK object it is given, and org-keys.ts freezes its keys.
  if (problem === undefined && Object.isFrozen(value)) {
    const verdicts = passed.get(value) ?? new Set<string>();
    passed.set(value, verdicts.add(verdict));
  }
  return problem;
}

const passed = new WeakMap<object, Set<string>>();
const thumbprints = new WeakMap<object, string>();

/** The RFC 7638 thumbprint of a key, remembered for frozen JWKs as {@link jwkProblem} does. */
export function keyThumbprint(jwk: JWK): string {
  let thumbprint = thumbprints.get(jwk);
  if (thumbprint === undefined) {
    thumbprint = jwkThumbprintSync(jwk);
    if (Object.isFrozen(jwk)) thumbprints.set(jwk, thumbprint);
  }
  return thumbprint;
}

function findProblem(jwk: Record<string, unknown>, expected: JwkExpectation): string | undefined {
  const kinds = KINDS[expected.role];
  const kind = kinds.find((k) => k.kty === jwk.kty && k.crv === jwk.crv);
  if (kind === undefined) {
    return `"kty"/"crv" must be one of ${kinds.map((k) => `${k.kty}/${k.crv}`).join(', ')} for a ${expected.role} key`;
  }
  if (!isKeyBytes(jwk.x)) return `"x" must be ${MEMBER_BYTES} bytes, base64url`;
  if (kind.kty === 'EC' && !isKeyBytes(jwk.y)) return `"y" must be ${MEMBER_BYTES} bytes, base64url`;
  if (kind.kty === 'OKP' && jwk.y !== undefined) return `"y" must be absent for ${kind.crv}`;
  if (expected.visibility === 'public' && jwk.d !== undefined) {
    return 'must be a public key, but it has a private member "d"; never publish or send a private key';
  }
  if (expected.visibility === 'private' && !isKeyBytes(jwk.d)) {
    return `"d" must be ${MEMBER_BYTES} bytes, base64url, in a private key`;
  }
  if (expected.strict) {
    for (const member of Object.keys(jwk)) {
      if (!KNOWN_MEMBERS.has(member)) return `has an unexpected member${/^[a-z_]{1,16}$/i.test(member) ? ` "${member}"` : ''}`;
    }
    for (const member of ['kid', 'alg', 'use']) {
      if (jwk[member] === undefined) return `"${member}" is missing`;
    }
  }
  if (jwk.alg !== undefined && jwk.alg !== kind.alg) return `"alg" must be "${kind.alg}" for ${kind.crv}`;
  if (jwk.use !== undefined && jwk.use !== kind.use) return `"use" must be "${kind.use}" for a ${expected.role} key`;
  if (jwk.kid !== undefined) {
    if (!isThumbprint(jwk.kid)) return '"kid" must be the key\'s RFC 7638 SHA-256 thumbprint';
    if (jwk.kid !== keyThumbprint(jwk as JWK)) return '"kid" is not this key\'s RFC 7638 thumbprint';
  }
  return undefined;
}

/**
 * What is wrong with `value` as the ephemeral public key ("epk") of an ECDH-ES recipient, or
 * undefined. Beyond what the curve needs, the encoding must be the one honest key generation
 * yields: X25519 ignores the top bit of a public key and reduces values past the field prime, so
 * without this check one envelope would have several spellings that all decrypt.
 */
export function epkProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'must be a JWK object';
  const epk = value as Record<string, unknown>;
  const kind = KINDS.receive.find((k) => k.kty === epk.kty && k.crv === epk.crv);
  if (kind === undefined) return 'has an unaccepted "kty"/"crv"';
  const members = kind.kty === 'EC' ? ['kty', 'crv', 'x', 'y'] : ['kty', 'crv', 'x'];
  if (Object.keys(epk).some((m) => !members.includes(m))) return 'has an unexpected member';
  if (!isKeyBytes(epk.x) || (kind.kty === 'EC' && !isKeyBytes(epk.y))) return 'has a malformed coordinate';
  if (kind.crv === 'X25519' && !isCanonicalX25519(Buffer.from(epk.x as string, 'base64url'))) return 'is not a canonical X25519 key';
  return undefined;
}

// RFC 7748 §5: a u-coordinate is little-endian, top bit unused, and below p = 2^255 - 19.
function isCanonicalX25519(u: Uint8Array): boolean {
  if ((u[31]! & 0x80) !== 0) return false;
  const atLeastP = u[31] === 0x7f && u.subarray(1, 31).every((byte) => byte === 0xff) && u[0]! >= 0xed;
  return !atLeastP;
}

/** The kind of a JWK that passed {@link jwkProblem}. */
export function kindOf(jwk: JWK, role: KeyRole): KeyKind {
  const kind = KINDS[role].find((k) => k.kty === jwk.kty && k.crv === jwk.crv);
  if (kind === undefined) throw new TypeError(`not a ${role} key Parley accepts`);
  return kind;
}

function isKeyBytes(value: unknown): boolean {
  return isBase64url(value, MEMBER_BYTES);
}
