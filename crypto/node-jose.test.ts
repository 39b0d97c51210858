import { diffieHellman } from 'node:crypto';
import { CompactSign, GeneralEncrypt, compactVerify, generalDecrypt } from 'jose';
import type { JWK } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Envelope, EnvelopeBinding } from '../common/envelope.ts';
import { openWithJose, sealWithJose } from '../test/support/jose-envelope.ts';
import { aesKeyUnwrap, aesKeyWrap, concatKdf, openJwe, privateKeyOf, publicKeyOf, sealJwe, signJws, verifyCompactJws, verifyJws } from './node-jose.ts';
import type { SignAlg } from './node-jose.ts';
import { generateOrgKeys, publicKeysOf } from './org-keys.ts';
import type { OrgKeys } from './org-keys.ts';
import { openEnvelope } from './open-envelope.ts';
import { createMemoryReplayGuard } from './replay-guard.ts';
import { sealEnvelope } from './seal-envelope.ts';
import { p256OrgKeys } from '../test/support/p256-org-keys.ts';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const b64u = (b: Uint8Array) => Buffer.from(b).toString('base64url');

describe('published vectors', () => {
  it('RFC 7518 Appendix C: Concat KDF over the P-256 ECDH-ES example yields its key', () => {
    // Alice's ephemeral key and Bob's key, as given in RFC 7518 Appendix C.
    const alice = { kty: 'EC', crv: 'P-256', x: 'gI0GAILBdu7T53akrFmMyGcsF3n5dO7MmwNBHKW5SV0', y: 'SLW_xSffzlPWrHEVI30DHM_4egVwt3NQqeUD7nMFpps', d: '0_NxaRPUMQoAJt50Gz8YiTr8gRTwyEaCumd-MToTmIo' };
    const bob = { kty: 'EC', crv: 'P-256', x: 'weNJy2HscCSM6AEDTDg04biOvhFhyyWvOHQfeF_PxMQ', y: 'e8lnCO-AlStT-NJVX-crhB7QRYhiix03illJOVAOyck', d: 'VEmDZpDXXK8p8N0Cndsxs924q6nS1RXFASRl6BfUqdw' };
    const z = diffieHellman({ privateKey: privateKeyOf(alice), publicKey: publicKeyOf(bob) });
    expect([...z]).toEqual([158, 86, 217, 29, 129, 113, 53, 211, 114, 131, 66, 131, 191, 132, 38, 156, 251, 49, 110, 163, 218, 128, 106, 72, 246, 218, 167, 121, 140, 254, 144, 196]);
    expect(diffieHellman({ privateKey: privateKeyOf(bob), publicKey: publicKeyOf(alice) })).toEqual(z);
    const key = concatKdf(z, 'A128GCM', 128, new TextEncoder().encode('Alice'), new TextEncoder().encode('Bob'));
    expect(b64u(key)).toBe('VqqN6vgjbSBcIijNcacQGg');
  });

  it('RFC 3394 §4.6: wraps 256 bits of key data with a 256-bit KEK, and unwraps them', () => {
    const kek = hex('000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F');
    const data = hex('00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F');
    const wrapped = hex('28C9F404C4B810F4 CBCCB35CFB87F826 3F5786E2D80ED326 CBC7F0E71A99F43B FB988B9B7A02DD21');
    expect(aesKeyWrap(kek, data)).toEqual(wrapped);
    expect(aesKeyUnwrap(kek, wrapped)).toEqual(data);
    const altered = Buffer.from(wrapped);
    altered[5]! ^= 1;
    expect(() => aesKeyUnwrap(kek, altered)).toThrow();
  });

  it('RFC 7748 §6.1: X25519 between the JWK-imported keys gives the shared secret', () => {
    const okp = (d: string | undefined, x: string) => ({ kty: 'OKP', crv: 'X25519', x: b64u(hex(x)), ...(d ? { d: b64u(hex(d)) } : {}) });
    const alice = okp('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a', '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
    const bob = okp(undefined, 'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f');
    expect(diffieHellman({ privateKey: privateKeyOf(alice), publicKey: publicKeyOf(bob) }).toString('hex')).toBe('4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742');
  });

  it('RFC 8037 §A.4: signs the Ed25519 example to its JWS, and verifies it', () => {
    const key = { kty: 'OKP', crv: 'Ed25519', d: 'nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A', x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo' };
    // The RFC names the algorithm "EdDSA"; RFC 9864's "Ed25519", which Parley signs with, is the same signature.
    const alg = 'EdDSA' as SignAlg;
    const jws = signJws({ alg }, new TextEncoder().encode('Example of Ed25519 signing'), key);
    expect(jws).toEqual({
      protected: 'eyJhbGciOiJFZERTQSJ9',
      payload: 'RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc',
      signature: 'hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg',
    });
    const { d: _, ...publicKey } = key;
    expect(verifyJws(jws, publicKey, alg)).toEqual({ alg: 'EdDSA' });
    expect(verifyJws({ ...jws, payload: 'RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmd' }, publicKey, alg)).toBeUndefined();
  });
});


const KINDS = ['X25519/Ed25519', 'P-256/ES256'] as const;
const orgs: Record<(typeof KINDS)[number], OrgKeys[]> = { 'X25519/Ed25519': [], 'P-256/ES256': [] };
beforeAll(async () => {
  const names = ['north', 'south', 'east', 'west'];
  orgs['X25519/Ed25519'] = await Promise.all(names.map((n) => generateOrgKeys(n)));
  orgs['P-256/ES256'] = await Promise.all(names.map((n) => p256OrgKeys(n)));
});

const body = new TextEncoder().encode('{"share":"12345678901234567890"}');
const bindingTo = (to: string[], seq = 1): EnvelopeBinding => ({ runId: 'run-x', step: 'shares', from: 'north', to: [...to].sort(), seq });

function openOptions(recipient: OrgKeys, sender: OrgKeys) {
  return {
    expect: { runId: 'run-x', step: 'shares', recipient: recipient.org },
    receiveKey: recipient.receive.privateJwk,
    senderSigningKey: async () => publicKeysOf(sender).sign.jwk,
    replayGuard: createMemoryReplayGuard(),
  };
}

describe.each(KINDS)('node:crypto against jose, %s keys', (kind) => {
  const keys = () => orgs[kind];
  const seal = (n: number, how: 'node' | 'jose') => {
    const [north, ...others] = keys();
    const to = others.slice(0, n);
    const input = { binding: bindingTo(to.map((o) => o.org)), body, sender: north!, recipients: to.map((o) => ({ org: o.org, receiveJwk: publicKeysOf(o).receive.jwk })) };
    return how === 'node' ? sealEnvelope(input) : sealWithJose(input);
  };

  it.each([1, 3])('an envelope sealed over node:crypto for %i recipient(s) opens with jose, for each of them', async (n) => {
    const [north, ...others] = keys();
    const envelope = await seal(n, 'node');
    for (const recipient of others.slice(0, n)) {
      const claims = await openWithJose(JSON.parse(JSON.stringify(envelope)), recipient.receive.privateJwk, publicKeysOf(north!).sign.jwk);
      expect(claims.body).toBe(b64u(body));
      expect(claims.to).toEqual(envelope.binding.to);
    }
  });

  it.each([1, 3])('an envelope sealed by jose for %i recipient(s) opens over node:crypto, for each of them', async (n) => {
    const [north, ...others] = keys();
    const envelope = await seal(n, 'jose');
    for (const recipient of others.slice(0, n)) {
      const opened = await openEnvelope(JSON.parse(JSON.stringify(envelope)), openOptions(recipient, north!));
      expect(opened.body).toEqual(body);
      expect(opened.binding).toEqual(envelope.binding);
    }
  });

  it.each([1, 3])('lays out the JWE as jose does for %i recipient(s): members, header members and their order', async (n) => {
    const shape = (e: Envelope) => {
      const protectedHeader = JSON.parse(Buffer.from(e.jwe.protected, 'base64url').toString('utf8')) as Record<string, unknown>;
      const epk = (protectedHeader.epk ?? e.jwe.recipients[0]!.header!.epk) as Record<string, unknown>;
      return {
        envelope: Object.keys(e),
        jwe: Object.keys(e.jwe),
        protected: Object.keys(protectedHeader),
        recipients: e.jwe.recipients.map((r) => [Object.keys(r), Object.keys(r.header!)]),
        epk: Object.keys(epk),
        sigHeader: Buffer.from(e.sig.split('.')[0]!, 'base64url').toString('utf8').replace(/"kid":"[^"]+"/, ''),
      };
    };
    expect(shape(await seal(n, 'node'))).toEqual(shape(await seal(n, 'jose')));
  });

  it('signatures verify both ways: a node:crypto JWS with jose, a jose JWS over node:crypto', async () => {
    const north = keys()[0]!;
    const alg = north.sign.privateJwk.alg as SignAlg;
    const payload = new TextEncoder().encode('{"claim":1}');
    const ours = signJws({ alg, kid: north.sign.publicJwk.kid, typ: 'parley+jws' }, payload, north.sign.privateJwk);
    const verified = await compactVerify(`${ours.protected}.${ours.payload}.${ours.signature}`, north.sign.publicJwk, { algorithms: [alg] });
    expect(verified.payload).toEqual(payload);
    const theirs = await new CompactSign(payload).setProtectedHeader({ alg, kid: north.sign.publicJwk.kid, typ: 'parley+jws' }).sign(north.sign.privateJwk);
    expect(verifyCompactJws(theirs, north.sign.publicJwk, alg)?.payload).toEqual(payload);
    // Another key, or another alg than the key's, never verifies.
    expect(verifyCompactJws(theirs, keys()[1]!.sign.publicJwk, alg)).toBeUndefined();
    expect(verifyCompactJws(theirs, north.sign.publicJwk, (alg === 'ES256' ? 'Ed25519' : 'ES256') as SignAlg)).toBeUndefined();
  });

  it('a JWE altered in any member fails to decrypt both ways', async () => {
    const [, south, east] = keys();
    const recipients = [south!, east!].map((o) => ({ receiveJwk: o.receive.publicJwk as JWK, header: { alg: 'ECDH-ES+A256KW' as const, kid: o.receive.publicJwk.kid } }));
    const plaintext = new TextEncoder().encode('a.b.c');
    for (const many of [false, true]) {
      const jwe = sealJwe({ enc: 'A256GCM', cty: 'parley+jws' }, plaintext, many ? recipients : recipients.slice(0, 1));
      expect(openJwe(jwe, 0, south!.receive.privateJwk)).toEqual(plaintext);
      expect((await generalDecrypt({ ...jwe, recipients: [jwe.recipients[0]!] }, south!.receive.privateJwk)).plaintext).toEqual(plaintext);
      const flip = (s: string, at: number) => {
        const bytes = Buffer.from(s, 'base64url');
        bytes[at % bytes.length]! ^= 0x01;
        return b64u(bytes);
      };
      const epkIn = many ? 'recipient' : 'protected';
      const alterations: Array<[string, typeof jwe]> = [
        ['ciphertext', { ...jwe, ciphertext: flip(jwe.ciphertext, 2) }],
        ['tag', { ...jwe, tag: flip(jwe.tag, 7) }],
        ['iv', { ...jwe, iv: flip(jwe.iv, 3) }],
        ['encrypted_key', { ...jwe, recipients: [{ ...jwe.recipients[0]!, encrypted_key: flip(jwe.recipients[0]!.encrypted_key!, 11) }] }],
        ['protected', { ...jwe, protected: b64u(Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(jwe.protected, 'base64url').toString()), cty: 'other' }))) }],
        [`epk (${epkIn})`, many
          ? { ...jwe, recipients: [{ ...jwe.recipients[0]!, header: { ...jwe.recipients[0]!.header, epk: publicKeysOf(east!).receive.jwk } }] }
          : { ...jwe, protected: b64u(Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(jwe.protected, 'base64url').toString()), epk: { ...pick(publicKeysOf(east!).receive.jwk) } }))) }],
      ];
      for (const [what, altered] of alterations) {
        expect(openJwe(altered, 0, south!.receive.privateJwk), what).toBeUndefined();
        await expect(generalDecrypt({ ...altered, recipients: [altered.recipients[0]!] }, south!.receive.privateJwk), what).rejects.toThrow();
      }
    }
  });

  it('refuses a JWE whose ephemeral key is in both headers, as jose does', async () => {
    const [, south] = keys();
    const jwe = sealJwe({ enc: 'A256GCM' }, new Uint8Array([1, 2, 3]), [{ receiveJwk: south!.receive.publicJwk, header: { alg: 'ECDH-ES+A256KW', kid: south!.receive.publicJwk.kid } }]);
    const epk = JSON.parse(Buffer.from(jwe.protected, 'base64url').toString()).epk as JWK;
    const doubled = { ...jwe, recipients: [{ ...jwe.recipients[0]!, header: { ...jwe.recipients[0]!.header, epk } }] };
    expect(openJwe(doubled, 0, south!.receive.privateJwk)).toBeUndefined();
    await expect(generalDecrypt(doubled, south!.receive.privateJwk)).rejects.toThrow();
  });
});

describe('jose-sealed JWE for many recipients', () => {
  it('opens over node:crypto for every recipient, as its layout puts each ephemeral key in its own header', async () => {
    const all = orgs['X25519/Ed25519'];
    const plaintext = new TextEncoder().encode('x.y.z');
    const encrypt = new GeneralEncrypt(plaintext).setProtectedHeader({ enc: 'A256GCM' });
    for (const o of all) encrypt.addRecipient(o.receive.publicJwk).setUnprotectedHeader({ alg: 'ECDH-ES+A256KW', kid: o.receive.publicJwk.kid });
    const jwe = await encrypt.encrypt();
    all.forEach((o, i) => expect(openJwe(jwe as never, i, o.receive.privateJwk)).toEqual(plaintext));
    // Each entry opens only with its own key.
    expect(openJwe(jwe as never, 0, all[1]!.receive.privateJwk)).toBeUndefined();
  });
});

function pick(jwk: JWK): JWK {
  const { kty, crv, x, y } = jwk;
  return y === undefined ? { kty, crv, x } : { kty, crv, x, y };
}
