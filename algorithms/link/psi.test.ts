import { describe, expect, it } from 'vitest';
import { P, batchInvert, blind, decodeU, encodeU, hashToCurve, hashToField, jacobi, newBlindingKey } from './psi.js';

// RFC 9380, Appendix J.4.2: curve25519_XMD:SHA-512_ELL2_NU_.
const DST = 'QUUX-V01-CS02-with-curve25519_XMD:SHA-512_ELL2_NU_';
const J42 = [
  { msg: '', u0: '608d892b641f0328523802a6603427c26e55e6f27e71a91a478148d45b5093cd', qx: '51125222da5e763d97f3c10fcc92ea6860b9ccbbd2eb1285728f566721c1e65b', px: '1bb913f0c9daefa0b3375378ffa534bda5526c97391952a7789eb976edfe4d08' },
  { msg: 'abc', u0: '46f5b22494bfeaa7f232cc8d054be68561af50230234d7d1d63d1d9abeca8da5', qx: '7d56d1e08cb0ccb92baf069c18c49bb5a0dcd927eff8dcf75ca921ef7f3e6eeb', px: '7c22950b7d900fa866334262fcaea47a441a578df43b894b4625c9b450f9a026' },
  { msg: 'abcdef0123456789', u0: '235fe40c443766ce7e18111c33862d66c3b33267efa50d50f9e8e5d252a40aaa', qx: '3fbe66b9c9883d79e8407150e7c2a1c8680bee496c62fabe4619a72b3cabe90f', px: '31ad08a8b0deeb2a4d8b0206ca25f567ab4e042746f792f4b7973f3ae2096c52' },
  { msg: `q128_${'q'.repeat(128)}`, u0: '001e92a544463bda9bd04ddbe3d6eed248f82de32f522669efc5ddce95f46f5b', qx: '227e0bb89de700385d19ec40e857db6e6a3e634b1c32962f370d26f84ff19683', px: '027877759d155b1997d0d84683a313eb78bdb493271d935b622900459d52ceaa' },
  { msg: `a512_${'a'.repeat(512)}`, u0: '1a68a1af9f663592291af987203393f707305c7bac9c8d63d6a729bdc553dc19', qx: '3bcd651ee54d5f7b6013898aab251ee8ecc0688166fce6e9548d38472f6bd196', px: '5fd892c0958d1a75f54c3182a18d286efab784e774d1e017ba2fb252998b5dc1' },
];
const hex = (u: bigint) => u.toString(16).padStart(64, '0');
const A24 = 121665n;

/** u(2Q) by the x-only doubling of RFC 7748 section 5 (projective, then affine). */
function double(u: bigint): bigint {
  const m = (a: bigint) => ((a % P) + P) % P;
  const x = m((u + 1n) * (u + 1n));
  const z = m((u - 1n) * (u - 1n));
  const e = m(x - z);
  const x2 = m(x * z);
  const z2 = m(e * (x + A24 * e) % P);
  const [inv] = batchInvert([z2]);
  return m(x2 * inv!);
}

describe('RFC 9380 curve25519_XMD:SHA-512_ELL2_NU_ (Appendix J.4.2)', () => {
  it.each(J42)('hash_to_field and the Elligator 2 map give u[0] and Q.x for msg "$msg"', ({ msg, u0, qx }) => {
    expect(hex(hashToField(Buffer.from(msg), Buffer.from(DST)))).toBe(u0);
    const [q] = hashToCurve([Buffer.from(msg)], DST);
    expect(hex(decodeU(q!))).toBe(qx);
  });

  it.each(J42)('clearing the cofactor of Q (8·Q by three x-only doublings) gives P.x for msg "$msg"', ({ qx, px }) => {
    expect(hex(double(double(double(BigInt(`0x${qx}`)))))).toBe(px);
  });
});

describe('psi', () => {
  it('is_square by the Jacobi symbol agrees with Euler\'s criterion', () => {
    const pow = (a: bigint, e: bigint) => {
      let r = 1n;
      let b = a % P;
      for (; e > 0n; e >>= 1n, b = (b * b) % P) if (e & 1n) r = (r * b) % P;
      return r;
    };
    for (const a of [1n, 2n, 3n, 5n, 486662n, P - 1n, 123456789012345678901234567890n]) {
      const euler = pow(a, (P - 1n) / 2n);
      expect(jacobi(a)).toBe(euler === 1n ? 1 : -1);
    }
    expect(jacobi(0n)).toBe(0);
  });

  it('batch inversion inverts every element and leaves 0 at 0', () => {
    const values = [3n, 0n, P - 2n, 486662n];
    batchInvert(values).forEach((inv, i) => expect(values[i] === 0n ? inv : (inv * values[i]!) % P).toBe(values[i] === 0n ? 0n : 1n));
  });

  it('blinding commutes: a value blinded by every key is the same in any order', () => {
    const points = hashToCurve(['4010232137', '9434765919', ''].map((s) => Buffer.from(s)));
    const [a, b, c] = [newBlindingKey(), newBlindingKey(), newBlindingKey()];
    const abc = blind(c, blind(b, blind(a, points)));
    const cab = blind(b, blind(a, blind(c, points)));
    expect(abc.map((p) => p.toString('hex'))).toEqual(cab.map((p) => p.toString('hex')));
    expect(abc[0]!.equals(points[0]!)).toBe(false);
    expect(encodeU(decodeU(points[1]!)).equals(points[1]!)).toBe(true);
  });
});
