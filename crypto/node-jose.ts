/**
 * The envelope's JOSE operations over synchronous node:crypto (internal to crypto/): compact and
 * detached JWS signatures (Ed25519, ES256) and the General JSON JWE of ECDH-ES+A256KW with A256GCM.
 * The same bytes on the wire as jose makes and reads (seal-envelope.test.ts and
 * node-jose.test.ts cross-check every operation against jose); done here because jose goes
 * through WebCrypto's asynchronous calls, which cost ten times the cryptography itself, on every
 * seal and open. Everything else in crypto/ stays on jose.
 *
 * Imported KeyObjects are remembered per JWK object (keys are frozen, org-keys.ts), and public
 * ones also by their public members, so no seal or open imports a key it has imported before.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7515 (JWS), rfc7516 (JWE), rfc7518 §4.6 (ECDH-ES, Concat
 *   KDF), §4.4 and RFC 3394 (AES key wrap), §5.3 (AES-GCM), RFC 8037 and RFC 9864 (Ed25519)
 */
import { createCipheriv, createDecipheriv, createHash, createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, randomBytes, sign, verify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import type { JWK } from 'jose';
import type { GeneralJwe } from '../common/envelope.ts';
import { isBase64url } from './base64url.ts';

const encoder = new TextEncoder();
const b64u = (bytes: Uint8Array | string): string => Buffer.from(bytes).toString('base64url');
const json64 = (value: unknown): string => b64u(JSON.stringify(value));

// ---------------------------------------------------------------------------------------------
// Keys

const privateKeys = new WeakMap<object, KeyObject>();
const publicKeys = new WeakMap<object, KeyObject>();
// Public keys by their public members too: a key directory may hand out a fresh copy each time.
// Bounded, as a worker meets new organisations' keys over its life.
const publicByMembers = new Map<string, KeyObject>();
const PUBLIC_CACHE_LIMIT = 4096;

// Remembered per object only when the object is frozen and so cannot change under the cache, as
// jwk-kinds.ts remembers its verdicts (org-keys.ts freezes every key it parses or makes).

/** The KeyObject for a private JWK (OKP or EC), imported once per frozen JWK object. */
export function privateKeyOf(jwk: JWK): KeyObject {
  let key = privateKeys.get(jwk);
  if (key === undefined) {
    key = createPrivateKey({ key: keyMembers(jwk, true), format: 'jwk' });
    if (Object.isFrozen(jwk)) privateKeys.set(jwk, key);
  }
  return key;
}

/** The KeyObject for a public JWK (or the public half of a private one), imported once. */
export function publicKeyOf(jwk: JWK): KeyObject {
  let key = publicKeys.get(jwk);
  if (key !== undefined) return key;
  const members = keyMembers(jwk, false);
  const id = `${members.kty}.${members.crv}.${members.x}.${members.y ?? ''}`;
  key = publicByMembers.get(id);
  if (key === undefined) {
    key = createPublicKey({ key: members, format: 'jwk' });
    if (publicByMembers.size >= PUBLIC_CACHE_LIMIT) publicByMembers.clear();
    publicByMembers.set(id, key);
  }
  if (Object.isFrozen(jwk)) publicKeys.set(jwk, key);
  return key;
}

// Only the members that make the key: node:crypto is never shown kid, alg or use.
function keyMembers(jwk: JWK, withPrivate: boolean): JsonWebKeyMembers {
  const members: JsonWebKeyMembers = { kty: jwk.kty!, crv: jwk.crv!, x: jwk.x! };
  if (jwk.y !== undefined) members.y = jwk.y;
  if (withPrivate) members.d = jwk.d!;
  return members;
}

type JsonWebKeyMembers = {
  kty: string;
  crv: string;
  x: string;
  y?: string;
  d?: string;
};

// ---------------------------------------------------------------------------------------------
// JWS (RFC 7515): the signing input is ASCII(BASE64URL(header) '.' BASE64URL(payload)).

/** Signature algorithms this module signs and verifies: Ed25519 (RFC 9864) and ES256 (RFC 7518 §3.4). */
export type SignAlg = 'Ed25519' | 'ES256';

function rawSign(alg: SignAlg, input: Uint8Array, key: KeyObject): Buffer {
  // ES256 signatures are the raw r‖s of RFC 7518 §3.4, not DER.
  return alg === 'ES256' ? sign('sha256', input, { key, dsaEncoding: 'ieee-p1363' }) : sign(null, input, key);
}

function rawVerify(alg: SignAlg, input: Uint8Array, key: KeyObject, signature: Uint8Array): boolean {
  try {
    return alg === 'ES256' ? verify('sha256', input, { key, dsaEncoding: 'ieee-p1363' }, signature) : verify(null, input, key, signature);
  } catch {
    return false;
  }
}

/** A JWS over `payload` as { protected, payload, signature }, all base64url (the header as given, serialised in its order). */
export function signJws(header: { alg: SignAlg } & Record<string, unknown>, payload: Uint8Array, privateJwk: JWK): { protected: string; payload: string; signature: string } {
  const protectedB64 = json64(header);
  const payloadB64 = b64u(payload);
  const signature = rawSign(header.alg, encoder.encode(`${protectedB64}.${payloadB64}`), privateKeyOf(privateJwk));
  return { protected: protectedB64, payload: payloadB64, signature: b64u(signature) };
}

/** {@link signJws} in the compact serialisation, `protected.payload.signature` (the counterpart of {@link verifyCompactJws}). */
export function signCompactJws(header: { alg: SignAlg } & Record<string, unknown>, payload: Uint8Array, privateJwk: JWK): string {
  const jws = signJws(header, payload, privateJwk);
  return `${jws.protected}.${jws.payload}.${jws.signature}`;
}

/**
 * The protected header of a JWS whose signature verifies with `publicJwk` under `alg` (the
 * header's own `alg` must be it), or undefined for anything else: malformed parts, another alg,
 * a header that is not a JSON object, a header with `crit` or `b64` (which Parley never makes), a
 * bad signature. Like jose, it does not say which.
 */
export function verifyJws(parts: { protected: string; payload: string; signature: string }, publicJwk: JWK, alg: SignAlg): Record<string, unknown> | undefined {
  if (!isBase64url(parts.protected) || parts.protected.length === 0 || !isBase64url(parts.payload) || !isBase64url(parts.signature)) return undefined;
  const header = parseJsonObject(Buffer.from(parts.protected, 'base64url'));
  if (header === undefined || header.alg !== alg || 'crit' in header || 'b64' in header) return undefined;
  const input = encoder.encode(`${parts.protected}.${parts.payload}`);
  return rawVerify(alg, input, publicKeyOf(publicJwk), Buffer.from(parts.signature, 'base64url')) ? header : undefined;
}

/** {@link verifyJws} for a compact JWS, with its decoded payload. */
export function verifyCompactJws(jws: string, publicJwk: JWK, alg: SignAlg): { header: Record<string, unknown>; payload: Uint8Array } | undefined {
  const parts = jws.split('.');
  if (parts.length !== 3) return undefined;
  const [protectedB64, payload, signature] = parts as [string, string, string];
  const header = verifyJws({ protected: protectedB64, payload, signature }, publicJwk, alg);
  return header === undefined ? undefined : { header, payload: new Uint8Array(Buffer.from(payload, 'base64url')) };
}

function parseJsonObject(bytes: Uint8Array): Record<string, unknown> | undefined {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    return undefined;
  }
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

// ---------------------------------------------------------------------------------------------
// JWE: ECDH-ES+A256KW (RFC 7518 §4.6.2) for each recipient, A256GCM content (§5.3).

const KEY_ALG = 'ECDH-ES+A256KW';
const KW_BITS = 256;
// RFC 3394 §2.2.3.1: the default initial value of AES key wrap.
const KW_IV = Buffer.from('A6A6A6A6A6A6A6A6', 'hex');
const CEK_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** An ephemeral public key as jose writes it into a header: members in jose's order. */
export interface Epk {
  x: string;
  crv: string;
  kty: string;
  y?: string;
}

/**
 * RFC 7518 §4.6.2 Concat KDF (NIST SP 800-56A §5.8.1) with SHA-256, for `keyBits` ≤ 256:
 * SHA-256(counter 1 ‖ Z ‖ OtherInfo), OtherInfo = AlgorithmID ‖ PartyUInfo ‖ PartyVInfo ‖ SuppPubInfo,
 * each of the first three length-prefixed (32-bit big-endian), SuppPubInfo the key length in bits.
 */
export function concatKdf(z: Uint8Array, algorithmId: string, keyBits: number, apu: Uint8Array = new Uint8Array(), apv: Uint8Array = new Uint8Array()): Buffer {
  if (keyBits > 256 || keyBits % 8 !== 0) throw new TypeError('concatKdf: keyBits must be a multiple of 8 up to 256');
  const u32 = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n);
    return b;
  };
  const alg = Buffer.from(algorithmId, 'ascii');
  return createHash('sha256')
    .update(u32(1)).update(z)
    .update(u32(alg.length)).update(alg)
    .update(u32(apu.length)).update(apu)
    .update(u32(apv.length)).update(apv)
    .update(u32(keyBits))
    .digest()
    .subarray(0, keyBits / 8);
}

/** RFC 3394 AES-256 key wrap of `cek` under `kek`. */
export function aesKeyWrap(kek: Uint8Array, cek: Uint8Array): Buffer {
  const cipher = createCipheriv('id-aes256-wrap', kek, KW_IV);
  return Buffer.concat([cipher.update(cek), cipher.final()]);
}

/** RFC 3394 AES-256 key unwrap; throws when the integrity check fails. */
export function aesKeyUnwrap(kek: Uint8Array, wrapped: Uint8Array): Buffer {
  const decipher = createDecipheriv('id-aes256-wrap', kek, KW_IV);
  return Buffer.concat([decipher.update(wrapped), decipher.final()]);
}

// The key-encryption key for one recipient: ECDH between the two keys, then Concat KDF with
// AlgorithmID "ECDH-ES+A256KW", no apu/apv (jose adds none unless asked).
function kekFor(privateKey: KeyObject, publicKey: KeyObject): Buffer {
  return concatKdf(diffieHellman({ privateKey, publicKey }), KEY_ALG, KW_BITS);
}

function ephemeralFor(recipient: KeyObject): { privateKey: KeyObject; epk: Epk } {
  const crv = recipient.asymmetricKeyType === 'x25519' ? 'X25519' : recipient.asymmetricKeyDetails?.namedCurve === 'prime256v1' ? 'P-256' : undefined;
  if (crv === undefined) throw new TypeError('sealJwe: a recipient key is neither X25519 nor P-256');
  const pair = crv === 'X25519' ? generateKeyPairSync('x25519') : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = pair.publicKey.export({ format: 'jwk' });
  const epk: Epk = { x: jwk.x!, crv, kty: jwk.kty! };
  if (jwk.kty === 'EC') epk.y = jwk.y!;
  return { privateKey: pair.privateKey, epk };
}

/** One recipient of {@link sealJwe}: its public receive JWK and its per-recipient header. */
export interface JweRecipient {
  receiveJwk: JWK;
  header: { alg: typeof KEY_ALG; kid: string };
}

/**
 * A General JSON JWE (RFC 7516 §7.2.1) of `plaintext` for `recipients`, laid out as jose's
 * GeneralEncrypt lays it out: with one recipient the ephemeral key joins the protected header,
 * with several each recipient's header carries its own.
 */
export function sealJwe(protectedHeader: Record<string, unknown>, plaintext: Uint8Array, recipients: readonly JweRecipient[]): GeneralJwe {
  if (recipients.length === 0) throw new TypeError('sealJwe: at least one recipient');
  const cek = randomBytes(CEK_BYTES);
  const entries = recipients.map((recipient) => {
    const publicKey = publicKeyOf(recipient.receiveJwk);
    const { privateKey, epk } = ephemeralFor(publicKey);
    return { encrypted_key: b64u(aesKeyWrap(kekFor(privateKey, publicKey), cek)), header: recipient.header, epk };
  });
  const single = entries.length === 1;
  const protectedB64 = json64(single ? { ...protectedHeader, epk: entries[0]!.epk } : protectedHeader);
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', cek, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(Buffer.from(protectedB64, 'ascii'));
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return {
    ciphertext: b64u(ciphertext),
    iv: b64u(iv),
    tag: b64u(cipher.getAuthTag()),
    protected: protectedB64,
    recipients: entries.map(({ encrypted_key, header, epk }) => ({ encrypted_key, header: single ? { ...header } : { ...header, epk } })),
  } as GeneralJwe;
}

/**
 * The plaintext of `jwe` for its recipient entry `entry`, decrypted with `receivePrivateJwk`; or
 * undefined when it does not decrypt (an ephemeral key that is missing, doubled, of another curve
 * or not on it; a wrapped key or ciphertext that fails its integrity check). `jwe` must already
 * have the shape inspect-envelope.ts checks (alg ECDH-ES+A256KW, enc A256GCM, sizes).
 */
export function openJwe(jwe: GeneralJwe, entry: number, receivePrivateJwk: JWK): Uint8Array | undefined {
  const recipient = jwe.recipients[entry];
  if (recipient === undefined) return undefined;
  const header = parseJsonObject(Buffer.from(jwe.protected, 'base64url'));
  if (header === undefined) return undefined;
  const shared = header.epk;
  const own = (recipient.header as Record<string, unknown> | undefined)?.epk;
  // RFC 7516 §7.2.1: the protected and per-recipient headers are disjoint; one epk, in one place.
  if ((shared === undefined) === (own === undefined)) return undefined;
  try {
    const epk = (shared ?? own) as Epk;
    const privateKey = privateKeyOf(receivePrivateJwk);
    if (epk.crv !== receivePrivateJwk.crv || epk.kty !== receivePrivateJwk.kty) return undefined;
    const members: JsonWebKeyMembers = { kty: epk.kty, crv: epk.crv, x: epk.x };
    if (epk.y !== undefined) members.y = epk.y;
    // Not cached: an ephemeral key is used once.
    const epkKey = createPublicKey({ key: members, format: 'jwk' });
    const cek = aesKeyUnwrap(kekFor(privateKey, epkKey), Buffer.from(recipient.encrypted_key ?? '', 'base64url'));
    if (cek.length !== CEK_BYTES) return undefined;
    const tag = Buffer.from(jwe.tag, 'base64url');
    const iv = Buffer.from(jwe.iv, 'base64url');
    if (tag.length !== TAG_BYTES || iv.length !== IV_BYTES) return undefined;
    const decipher = createDecipheriv('aes-256-gcm', cek, iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.from(jwe.protected, 'ascii'));
    decipher.setAuthTag(tag);
    return new Uint8Array(Buffer.concat([decipher.update(Buffer.from(jwe.ciphertext, 'base64url')), decipher.final()]));
  } catch {
    return undefined;
  }
}
