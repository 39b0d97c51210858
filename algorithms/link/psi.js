/**
 * The cryptography of Diffie–Hellman private set intersection (Meadows, "A more efficient
 * cryptographic matchmaking protocol for use in the absence of a continuously available third
 * party", IEEE S&P 1986; Huberman, Franklin & Hogg, "Enhancing privacy and trust in electronic
 * communities", ACM EC 1999), over curve25519: plain JavaScript, Node built-ins only, shipped in the parley/link image.
 *
 * - Hash to curve: RFC 9380 suite `curve25519_XMD:SHA-512_ELL2_NU_` (encode_to_curve:
 *   expand_message_xmd with SHA-512, section 5.3.1; hash_to_field with L = 48, section 5.2;
 *   the Elligator 2 map for Montgomery curves, section 6.7.1). Only the u-coordinate is kept:
 *   X25519 ignores v, and its clamped scalar (a multiple of 8) clears the cofactor, which the
 *   suite's clear_cofactor (h_eff = 8) would otherwise do.
 * - Blinding: X25519 (RFC 7748) with node:crypto. X25519(a, X25519(b, P)) = X25519(b, X25519(a, P)):
 *   both are u([ab]P), so a value blinded by every site's key is the same in any order.
 *
 * Field arithmetic is BigInt, where an exponentiation costs ~270 µs: the map avoids every
 * exponentiation — is_square is a Jacobi symbol by the binary algorithm (~25 µs), and the one
 * inversion per element is batched (Montgomery's trick: 3 multiplications each, one inversion).
 */
import { createHash, createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync } from 'node:crypto';

/** p = 2^255 − 19. */
export const P = (1n << 255n) - 19n;
/** curve25519's Montgomery A (RFC 9380 section 6.7.1: J = 486662, K = 1); Z = 2 (Appendix J.4.2 / section 8.5). */
const J = 486662n;
const Z = 2n;
/** The domain separation tag Parley's linkage hashes identifiers under (RFC 9380 section 3.1). */
export const LINK_DST = 'PARLEY-V01-CS01-with-curve25519_XMD:SHA-512_ELL2_NU_';

const mod = (a) => {
  const r = a % P;
  return r < 0n ? r + P : r;
};

/**
 * expand_message_xmd (RFC 9380 section 5.3.1) with SHA-512 (b = 64, r = 128 bytes).
 * @param {Buffer} msg
 * @param {Buffer} dst at most 255 bytes
 * @param {number} length bytes wanted, at most 255 · 64
 */
export function expandMessageXmd(msg, dst, length) {
  const ell = Math.ceil(length / 64);
  if (ell > 255 || dst.length > 255 || length > 65535) throw new TypeError('expand_message_xmd: length or DST too long');
  const dstPrime = Buffer.concat([dst, Buffer.from([dst.length])]);
  const b0 = createHash('sha512').update(Buffer.alloc(128)).update(msg)
    .update(Buffer.from([length >> 8, length & 0xff, 0])).update(dstPrime).digest();
  const blocks = [];
  let previous = createHash('sha512').update(b0).update(Buffer.from([1])).update(dstPrime).digest();
  blocks.push(previous);
  for (let i = 2; i <= ell; i++) {
    const x = Buffer.alloc(64);
    for (let j = 0; j < 64; j++) x[j] = b0[j] ^ previous[j];
    previous = createHash('sha512').update(x).update(Buffer.from([i])).update(dstPrime).digest();
    blocks.push(previous);
  }
  return Buffer.concat(blocks).subarray(0, length);
}

/** hash_to_field with count = 1, L = 48 (RFC 9380 section 5.2): one element of GF(p). */
export function hashToField(msg, dst) {
  return mod(BigInt(`0x${expandMessageXmd(msg, dst, 48).toString('hex')}`));
}

/**
 * The Jacobi symbol (a / p) by the binary algorithm (Cohen, A Course in Computational Algebraic
 * Number Theory, Algorithm 1.4.10): 1 for a non-zero square mod the prime p, −1 for a
 * non-square, 0 for 0. Replaces is_square's exponentiation a^((p−1)/2).
 */
export function jacobi(a, n = P) {
  a = ((a % n) + n) % n;
  let t = 1;
  while (a !== 0n) {
    while ((a & 1n) === 0n) {
      a >>= 1n;
      const r = n & 7n;
      if (r === 3n || r === 5n) t = -t;
    }
    [a, n] = [n, a];
    if ((a & 3n) === 3n && (n & 3n) === 3n) t = -t;
    a %= n;
  }
  return n === 1n ? t : 0;
}

/** a^e mod p (used once per batch, for the one inversion). */
function powMod(a, e) {
  let result = 1n;
  let base = mod(a);
  while (e > 0n) {
    if (e & 1n) result = (result * base) % P;
    base = (base * base) % P;
    e >>= 1n;
  }
  return result;
}

/** inv0 of every element (0 stays 0), with one exponentiation in all (Montgomery's trick). */
export function batchInvert(values) {
  const n = values.length;
  const prefix = new Array(n);
  let acc = 1n;
  for (let i = 0; i < n; i++) {
    prefix[i] = acc;
    if (values[i] !== 0n) acc = (acc * values[i]) % P;
  }
  let inv = powMod(acc, P - 2n);
  const out = new Array(n);
  for (let i = n - 1; i >= 0; i--) {
    if (values[i] === 0n) {
      out[i] = 0n;
      continue;
    }
    out[i] = (inv * prefix[i]) % P;
    inv = (inv * values[i]) % P;
  }
  return out;
}

/**
 * map_to_curve_elligator2 (RFC 9380 section 6.7.1) for curve25519, u-coordinate only, on a batch:
 * x1 = −J / (1 + Z·u²) (inv0, so the exceptional 1 + Z·u² = 0 gives x1 = 0), gx1 = x1³ + J·x1² + x1,
 * x = x1 if gx1 is square, else x2 = −x1 − J.
 * @param {bigint[]} us field elements
 * @returns {bigint[]} the points' u-coordinates (the suite's Q.x)
 */
export function mapToCurveElligator2(us) {
  const denominators = us.map((u) => mod(1n + Z * ((u * u) % P)));
  const inverses = batchInvert(denominators);
  return us.map((_, i) => {
    const x1 = mod(-J * inverses[i]);
    const gx1 = (((((x1 + J) * x1) % P) + 1n) * x1) % P;
    return jacobi(gx1) >= 0 ? x1 : mod(-x1 - J);
  });
}

/** A u-coordinate as X25519's 32 bytes, little-endian (RFC 7748 section 5). */
export function encodeU(u) {
  const bytes = Buffer.alloc(32);
  let v = u;
  for (let i = 0; i < 32; i++) {
    bytes[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return bytes;
}

/** X25519's 32 bytes as a u-coordinate (the top bit masked, as RFC 7748 decodeUCoordinate does). */
export function decodeU(bytes) {
  let v = 0n;
  for (let i = 31; i >= 0; i--) v = (v << 8n) | BigInt(i === 31 ? bytes[i] & 0x7f : bytes[i]);
  return v;
}

/**
 * encode_to_curve for `curve25519_XMD:SHA-512_ELL2_NU_` on a batch of messages, without
 * clear_cofactor (X25519's clamping does it): 32-byte u-coordinates.
 * @param {Buffer[]} messages
 * @param {string} dst
 * @returns {Buffer[]}
 */
export function hashToCurve(messages, dst = LINK_DST) {
  const tag = Buffer.from(dst, 'utf8');
  return mapToCurveElligator2(messages.map((m) => hashToField(m, tag))).map(encodeU);
}

/** A fresh X25519 private key, as PKCS#8 DER (to keep in the run volume, 0600). */
export function newBlindingKey() {
  return generateKeyPairSync('x25519').privateKey.export({ format: 'der', type: 'pkcs8' });
}

/**
 * Blinds every 32-byte u-coordinate with the private key: X25519(k, u) (RFC 7748 section 5).
 * Public keys are imported from JWK (~13 µs; DER spki costs ~170 µs here).
 * @param {Buffer} keyDer PKCS#8 DER of an X25519 private key
 * @param {Buffer[]} points
 * @returns {Buffer[]}
 */
export function blind(keyDer, points) {
  const privateKey = createPrivateKey({ key: keyDer, format: 'der', type: 'pkcs8' });
  return points.map((point) => diffieHellman({
    privateKey,
    publicKey: createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: point.toString('base64url') }, format: 'jwk' }),
  }));
}

/** A list of 32-byte values as one base64 string (how lists travel in messages). */
export function packPoints(points) {
  return Buffer.concat(points).toString('base64');
}

/**
 * The inverse of packPoints; undefined when `text` is not a whole number of 32-byte values.
 * @param {unknown} text
 * @returns {Buffer[] | undefined}
 */
export function unpackPoints(text) {
  if (typeof text !== 'string') return undefined;
  const bytes = Buffer.from(text, 'base64');
  if (bytes.length % 32 !== 0 || bytes.toString('base64') !== text) return undefined;
  const points = [];
  for (let i = 0; i < bytes.length; i += 32) points.push(bytes.subarray(i, i + 32));
  return points;
}
