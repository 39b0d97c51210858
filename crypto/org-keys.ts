/**
 * An organisation's two key pairs (DESIGN.md "Keys and envelopes"): one to receive envelopes
 * (ECDH-ES+A256KW over X25519) and one to sign them (Ed25519). Keys are plain JSON Web Keys so a
 * key file, the API and the pin store can hold them as JSON; each carries `kid` = its RFC 7638
 * thumbprint, `alg` and `use`. Reading and writing the key file (mode 0600) is not done here.
 *
 * X25519 and Ed25519 need no fallback: jose 6 generates and uses both through Node 20's WebCrypto
 * (checked on Node 20.20, jose 6.2). P-256 / ES256 keys made elsewhere are still accepted.
 * Signatures use the fully-specified JOSE alg "Ed25519" (RFC 9864) rather than the older "EdDSA".
 */
import { exportJWK, generateKeyPair } from 'jose';
import { ErrorCode, ParleyError } from '../common/errors.ts';
import { isOrgId } from '../common/ids.ts';
import type { OrgId } from '../common/ids.ts';
import { jwkProblem, preferredKind } from './jwk-kinds.ts';
import type { KeyKind, KeyRole } from './jwk-kinds.ts';
import { jwkThumbprint } from './thumbprint.ts';

/** A public JWK as Parley publishes it. `y` only for P-256 keys made elsewhere. */
export type PublicJwk = {
  kty: 'OKP' | 'EC';
  crv: string;
  x: string;
  y?: string;
  /** The key's RFC 7638 SHA-256 thumbprint. */
  kid: string;
  alg: string;
  use: 'enc' | 'sig';
};

/** A private JWK: the public members plus the private scalar `d`. Never leaves its site. */
export type PrivateJwk = PublicJwk & { d: string };

export interface KeyPair {
  privateJwk: PrivateJwk;
  publicJwk: PublicJwk;
}

/** Everything an organisation's key file holds. */
export interface OrgKeys {
  org: OrgId;
  receive: KeyPair;
  sign: KeyPair;
}

/** One published public key with its thumbprint (equal to `jwk.kid`). */
export interface PublishedKey {
  jwk: PublicJwk;
  thumbprint: string;
}

/** What the API publishes for an organisation. */
export interface OrgPublicKeys {
  org: OrgId;
  receive: PublishedKey;
  sign: PublishedKey;
}

/**
 * Makes an organisation's receive (X25519, ECDH-ES+A256KW) and sign (Ed25519) key pairs.
 * The result is frozen.
 *
 * @throws TypeError when `org` is not an organisation id.
 */
export async function generateOrgKeys(org: OrgId): Promise<OrgKeys> {
  if (!isOrgId(org)) throw new TypeError('generateOrgKeys(org): org must match [a-z][a-z0-9-]{0,39}');
  const [receive, sign] = await Promise.all([generatePair(preferredKind('receive')), generatePair(preferredKind('sign'))]);
  return deepFreeze({ org, receive, sign });
}

/** The public half of an organisation's keys, as the API publishes it. */
export function publicKeysOf(keys: OrgKeys): OrgPublicKeys {
  return deepFreeze({
    org: keys.org,
    receive: { jwk: copyJwk(keys.receive.publicJwk), thumbprint: keys.receive.publicJwk.kid },
    sign: { jwk: copyJwk(keys.sign.publicJwk), thumbprint: keys.sign.publicJwk.kid },
  });
}

/**
 * Validates a parsed key file: the org id, both key pairs of accepted kinds, each private key
 * matching its public half, every `kid` the key's thumbprint. Returns a frozen copy holding only
 * the known members.
 *
 * @throws ParleyError KeyInvalid naming the field at fault; the message never contains key material.
 */
export function parseOrgKeys(json: unknown): OrgKeys {
  const fail: Fail = keyInvalid('Organisation keys are invalid', 'Restore the key file from a backup, or make new keys and publish them.');
  const root = objectAt(json, '', fail);
  const org = root.org;
  if (!isOrgId(org)) fail('org', 'must be an organisation id ([a-z][a-z0-9-]{0,39})');
  const pair = (role: KeyRole): KeyPair => {
    const entry = objectAt(root[role], role, fail);
    const publicJwk = checkedJwk(entry.publicJwk, `${role}.publicJwk`, role, 'public', fail);
    const privateJwk = checkedJwk(entry.privateJwk, `${role}.privateJwk`, role, 'private', fail) as PrivateJwk;
    for (const member of ['kty', 'crv', 'x', 'y', 'kid', 'alg', 'use'] as const) {
      if (privateJwk[member] !== publicJwk[member]) fail(`${role}.privateJwk`, `"${member}" differs from ${role}.publicJwk: the two halves are not one key pair`);
    }
    return { privateJwk, publicJwk };
  };
  const keys = { org, receive: pair('receive'), sign: pair('sign') };
  return deepFreeze(keys);
}

/**
 * Validates an organisation's published keys: the org id, both public keys of accepted kinds with
 * no private member, and each `thumbprint` equal to the key's RFC 7638 thumbprint and `kid`.
 *
 * @throws ParleyError KeyInvalid naming the field at fault; the message never contains key material.
 */
export function parseOrgPublicKeys(json: unknown): OrgPublicKeys {
  const fail: Fail = keyInvalid('Published organisation keys are invalid', 'Fetch them again from the Parley API; if they stay invalid, ask the organisation to publish its keys again.');
  const root = objectAt(json, '', fail);
  const org = root.org;
  if (!isOrgId(org)) fail('org', 'must be an organisation id ([a-z][a-z0-9-]{0,39})');
  const published = (role: KeyRole): PublishedKey => {
    const entry = objectAt(root[role], role, fail);
    const jwk = checkedJwk(entry.jwk, `${role}.jwk`, role, 'public', fail);
    if (entry.thumbprint !== jwk.kid) fail(`${role}.thumbprint`, 'is not the RFC 7638 thumbprint of the key');
    return { jwk, thumbprint: jwk.kid };
  };
  return deepFreeze({ org, receive: published('receive'), sign: published('sign') });
}

type Fail = (field: string, problem: string) => never;

function keyInvalid(what: string, action: string): Fail {
  return (field, problem) => {
    throw new ParleyError(ErrorCode.KeyInvalid, `${what}: ${field === '' ? 'the document' : field} ${problem}. ${action}`, { field });
  };
}

function objectAt(value: unknown, field: string, fail: Fail): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(field, 'must be an object');
  return value as Record<string, unknown>;
}

function checkedJwk(value: unknown, field: string, role: KeyRole, visibility: 'public' | 'private', fail: Fail): PublicJwk {
  const problem = jwkProblem(value, { role, visibility, strict: true });
  if (problem !== undefined) fail(field, problem);
  return copyJwk(value as PublicJwk);
}

// Only the known members, in a fixed order, so a copy never drags along anything unexpected.
function copyJwk<T extends PublicJwk>(jwk: T): T {
  const copy: Record<string, string> = { kty: jwk.kty, crv: jwk.crv, x: jwk.x };
  if (jwk.y !== undefined) copy.y = jwk.y;
  const d = (jwk as Partial<PrivateJwk>).d;
  if (d !== undefined) copy.d = d;
  Object.assign(copy, { kid: jwk.kid, alg: jwk.alg, use: jwk.use });
  return copy as T;
}

async function generatePair(kind: KeyKind): Promise<KeyPair> {
  const { privateKey, publicKey } = await generateKeyPair(kind.alg, { crv: kind.crv, extractable: true });
  const [priv, pub] = await Promise.all([exportJWK(privateKey), exportJWK(publicKey)]);
  const publicJwk: PublicJwk = { kty: kind.kty, crv: kind.crv, x: pub.x!, kid: '', alg: kind.alg, use: kind.use };
  if (pub.y !== undefined) publicJwk.y = pub.y;
  publicJwk.kid = await jwkThumbprint(publicJwk);
  const privateJwk: PrivateJwk = { ...publicJwk, d: priv.d! };
  return { privateJwk: copyJwk(privateJwk), publicJwk: copyJwk(publicJwk) };
}

// Frozen keys cannot be edited by mistake after validation; jose freezes the JWKs it is given anyway.
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
