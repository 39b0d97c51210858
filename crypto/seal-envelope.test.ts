import { beforeAll, describe, expect, it } from 'vitest';
import type { EnvelopeBinding } from '../common/envelope.ts';
import { generateOrgKeys, publicKeysOf } from './org-keys.ts';
import type { OrgKeys } from './org-keys.ts';
import { sealEnvelope } from './seal-envelope.ts';
import { verifyEnvelopeSignature } from './verify-envelope.ts';
import type { SealInput } from './seal-envelope.ts';

let north: OrgKeys;
let south: OrgKeys;
let east: OrgKeys;
beforeAll(async () => {
  [north, south, east] = await Promise.all([generateOrgKeys('north'), generateOrgKeys('south'), generateOrgKeys('east')]);
});

const binding: EnvelopeBinding = { runId: 'run-1', step: 'sum', from: 'north', to: ['east', 'south'], seq: 3 };
const body = new TextEncoder().encode('{"partial":42}');

function input(overrides: Partial<SealInput> = {}): SealInput {
  return {
    binding,
    body,
    sender: north,
    recipients: [
      { org: 'south', receiveJwk: publicKeysOf(south).receive.jwk },
      { org: 'east', receiveJwk: publicKeysOf(east).receive.jwk },
    ],
    ...overrides,
  } as SealInput;
}

function decodeProtected(value: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(value, 'base64url').toString('utf8')) as Record<string, unknown>;
}

describe('sealEnvelope', () => {
  it('carries the binding in clear and in the authenticated protected header', async () => {
    const envelope = await sealEnvelope(input());
    expect(envelope.v).toBe(2);
    expect(envelope.binding).toEqual(binding);
    expect(decodeProtected(envelope.jwe.protected)).toMatchObject({
      enc: 'A256GCM',
      cty: 'parley+jws',
      skid: north.sign.publicJwk.kid,
      parley: binding,
    });
  });

  it('signs the whole envelope as the sender, in a detached JWS anyone with its public key can check', async () => {
    const envelope = await sealEnvelope(input());
    const [header, payload, signature] = envelope.sig.split('.');
    expect(payload).toBe('');
    expect(signature).toMatch(/^[\w-]{86}$/);
    expect(decodeProtected(header!)).toEqual({ alg: 'Ed25519', kid: north.sign.publicJwk.kid, typ: 'parley+envelope' });
    await expect(verifyEnvelopeSignature(envelope, publicKeysOf(north).sign.jwk)).resolves.toMatchObject({ binding });
  });

  it('makes one entry per recipient, sorted by org, each named by its receive-key thumbprint', async () => {
    const envelope = await sealEnvelope(input());
    expect(envelope.jwe.recipients.map((r) => r.header?.kid)).toEqual([east.receive.publicJwk.kid, south.receive.publicJwk.kid]);
    expect(envelope.jwe.recipients.every((r) => r.header?.alg === 'ECDH-ES+A256KW')).toBe(true);
  });

  it('accepts binding.to in any order and seals it sorted', async () => {
    const envelope = await sealEnvelope(input({ binding: { ...binding, to: ['south', 'east'] } }));
    expect(envelope.binding.to).toEqual(['east', 'south']);
  });

  it('shows neither the body nor any private key in the envelope', async () => {
    const text = JSON.stringify(await sealEnvelope(input()));
    expect(text).not.toContain(Buffer.from(body).toString('base64url'));
    expect(text).not.toContain('partial');
    for (const keys of [north, south, east]) {
      expect(text).not.toContain(keys.receive.privateJwk.d);
      expect(text).not.toContain(keys.sign.privateJwk.d);
    }
  });

  it('never makes the same envelope twice', async () => {
    const [a, b] = await Promise.all([sealEnvelope(input()), sealEnvelope(input())]);
    expect(a.jwe.ciphertext).not.toBe(b.jwe.ciphertext);
    expect(a.jwe.iv).not.toBe(b.jwe.iv);
  });

  describe('refuses programmer errors with a TypeError', () => {
    const cases: Array<[string, () => Partial<SealInput>, RegExp]> = [
      ['an empty recipient list', () => ({ recipients: [], binding: { ...binding, to: [] } }), /recipients must be a non-empty array/],
      ['a duplicate recipient', () => ({ recipients: [...input().recipients, { org: 'south', receiveJwk: publicKeysOf(south).receive.jwk }], binding: { ...binding, to: ['east', 'south', 'south'] } }), /recipient "south" is listed twice/],
      ['a negative seq', () => ({ binding: { ...binding, seq: -1 } }), /seq must be a non-negative safe integer/],
      ['a fractional seq', () => ({ binding: { ...binding, seq: 1.5 } }), /seq must be a non-negative safe integer/],
      ['an unsafe seq', () => ({ binding: { ...binding, seq: Number.MAX_SAFE_INTEGER + 1 } }), /seq must be a non-negative safe integer/],
      ['binding.to missing a recipient', () => ({ binding: { ...binding, to: ['south'] } }), /binding\.to must name exactly the recipients \(east, south\)/],
      ['binding.to naming someone else', () => ({ binding: { ...binding, to: ['east', 'west'] } }), /binding\.to must name exactly the recipients/],
      ['binding.from that is not the sender', () => ({ binding: { ...binding, from: 'south' } }), /binding\.from must be the sender "north"/],
      ['a run id that is not an id', () => ({ binding: { ...binding, runId: 'run 1' } }), /binding\.runId must be a run id/],
      ['a step id that is not an id', () => ({ binding: { ...binding, step: '' } }), /binding\.step must be a step id/],
      ['a recipient org that is not an id', () => ({ recipients: [{ org: 'South', receiveJwk: publicKeysOf(south).receive.jwk }] }), /every recipient needs an organisation id/],
      ['a signing key where a receive key belongs', () => ({ recipients: [{ org: 'east', receiveJwk: publicKeysOf(east).sign.jwk }, input().recipients[0]!] }), /receiveJwk of recipient "east" "kty"\/"crv" must be one of/],
      ['a private receive key for a recipient', () => ({ recipients: [{ org: 'east', receiveJwk: east.receive.privateJwk }, input().recipients[0]!] }), /must be a public key/],
      ['a public key as the sender signing key', () => ({ sender: { org: 'north', sign: { privateJwk: north.sign.publicJwk } } }), /sender\.sign\.privateJwk "d" must be 32 bytes/],
      ['a body that is not bytes', () => ({ body: 'text' as unknown as Uint8Array }), /body must be a Uint8Array/],
    ];
    for (const [what, overrides, message] of cases) {
      it(`refuses ${what}`, async () => {
        await expect(sealEnvelope(input(overrides()))).rejects.toThrow(TypeError);
        await expect(sealEnvelope(input(overrides()))).rejects.toThrow(message);
      });
    }
  });
});
