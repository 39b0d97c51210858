import { beforeAll, describe, expect, it } from 'vitest';
import type { Envelope } from '../common/envelope.ts';
import { ErrorCode, ParleyError } from '../common/errors.ts';
import { TAMPERED_MESSAGE } from './envelope-format.ts';
import { inspectEnvelope } from './inspect-envelope.ts';
import { generateOrgKeys, publicKeysOf } from './org-keys.ts';
import type { OrgKeys } from './org-keys.ts';
import { sealEnvelope } from './seal-envelope.ts';

let north: OrgKeys;
let south: OrgKeys;
let east: OrgKeys;
let envelope: Envelope;
beforeAll(async () => {
  [north, south, east] = await Promise.all([generateOrgKeys('north'), generateOrgKeys('south'), generateOrgKeys('east')]);
  envelope = await sealEnvelope({
    binding: { runId: 'run-1', step: 'sum', from: 'north', to: ['east', 'south'], seq: 7 },
    body: new Uint8Array(100),
    sender: north,
    recipients: [
      { org: 'south', receiveJwk: publicKeysOf(south).receive.jwk },
      { org: 'east', receiveJwk: publicKeysOf(east).receive.jwk },
    ],
  });
});

/** An envelope's JSON as an attacker may rewrite it. */
interface EditableEnvelope {
  v: number;
  extra?: boolean;
  sig: string;
  binding: { seq: number; to: string[] };
  jwe: {
    aad?: string;
    iv: string;
    tag: string;
    ciphertext: string;
    protected: string;
    recipients: Array<{ encrypted_key: string; header: { alg: string; kid: string; epk: { x: string; d?: string } } }>;
  };
}

function edited(edit: (copy: EditableEnvelope) => void): unknown {
  const copy = JSON.parse(JSON.stringify(envelope)) as EditableEnvelope;
  edit(copy);
  return copy;
}

function expectTampered(value: unknown, reason: string, field?: string): void {
  try {
    inspectEnvelope(value);
  } catch (err) {
    expect(err).toBeInstanceOf(ParleyError);
    expect((err as ParleyError).code).toBe(ErrorCode.EnvelopeTampered);
    expect((err as ParleyError).message).toBe(TAMPERED_MESSAGE);
    expect((err as ParleyError).details).toMatchObject(field === undefined ? { reason } : { reason, field });
    return;
  }
  throw new Error('expected EnvelopeTampered');
}

describe('inspectEnvelope', () => {
  it('reads the binding, the recipients and the signer without any key', () => {
    const info = inspectEnvelope(envelope);
    expect(info.binding).toEqual({ runId: 'run-1', step: 'sum', from: 'north', to: ['east', 'south'], seq: 7 });
    expect(info.recipientKids).toEqual([east.receive.publicJwk.kid, south.receive.publicJwk.kid]);
    expect(info.senderKid).toBe(north.sign.publicJwk.kid);
    expect(info.sizes.encryptedKeys).toBe(80);
    expect(info.sizes.ciphertext).toBeGreaterThan(100);
    expect(info.sizes.envelope).toBe(JSON.stringify(envelope).length);
  });

  it('refuses a clear binding that differs from the protected header', () => {
    expectTampered(edited((e) => (e.binding.seq = 8)), 'clear-binding-mismatch');
    expectTampered(edited((e) => (e.binding.to = ['south'])), 'malformed', 'jwe.recipients');
    expectTampered(edited((e) => (e.binding.to = ['east', 'west'])), 'clear-binding-mismatch');
  });

  it('refuses malformed envelopes, naming the field in details only', () => {
    expectTampered(null, 'malformed', 'envelope');
    expectTampered(edited((e) => (e.v = 1)), 'malformed', 'v');
    expectTampered(edited((e) => (e.sig = 'AAAA')), 'malformed', 'sig');
    expectTampered(edited((e) => (e.sig = `${e.sig.split('.')[0]}.e30.${e.sig.split('.')[2]}`)), 'malformed', 'sig');
    expectTampered(edited((e) => (e.extra = true)), 'malformed', 'envelope');
    expectTampered(edited((e) => (e.binding.seq = -1)), 'malformed', 'binding');
    expectTampered(edited((e) => (e.jwe.aad = 'AAAA')), 'malformed', 'jwe');
    expectTampered(edited((e) => (e.jwe.iv = 'AAAA')), 'malformed', 'jwe.iv');
    expectTampered(edited((e) => (e.jwe.tag = `${e.jwe.tag}=`)), 'malformed', 'jwe.tag');
    expectTampered(edited((e) => (e.jwe.ciphertext = '')), 'malformed', 'jwe.ciphertext');
    expectTampered(edited((e) => (e.jwe.protected = 'not base64!')), 'malformed', 'jwe.protected');
    expectTampered(edited((e) => (e.jwe.protected = Buffer.from('[1]').toString('base64url'))), 'malformed', 'jwe.protected');
    expectTampered(edited((e) => e.jwe.recipients.pop()), 'malformed', 'jwe.recipients');
    expectTampered(edited((e) => (e.jwe.recipients[0]!.header.alg = 'ECDH-ES')), 'malformed', 'jwe.recipients.header.alg');
    expectTampered(edited((e) => (e.jwe.recipients[1]!.header.kid = e.jwe.recipients[0]!.header.kid)), 'malformed', 'jwe.recipients.header.kid');
    expectTampered(edited((e) => (e.jwe.recipients[0]!.encrypted_key = 'AAAA')), 'malformed', 'jwe.recipients.encrypted_key');
  });

  it('refuses an ephemeral key with another spelling of the same X25519 point', () => {
    // X25519 ignores the top bit, so a set top bit would decrypt alike: one envelope, two texts.
    expectTampered(
      edited((e) => {
        const epk = e.jwe.recipients[0]!.header.epk;
        const x = Buffer.from(epk.x, 'base64url');
        x[31] = x[31]! | 0x80;
        epk.x = x.toString('base64url');
      }),
      'malformed',
      'jwe.recipients.header.epk',
    );
    expectTampered(edited((e) => (e.jwe.recipients[0]!.header.epk.d = e.jwe.recipients[0]!.header.epk.x)), 'malformed', 'jwe.recipients.header.epk');
  });

  it('refuses a protected header with unexpected content', () => {
    const header = JSON.parse(Buffer.from(envelope.jwe.protected, 'base64url').toString('utf8')) as Record<string, unknown>;
    const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    expectTampered(edited((e) => (e.jwe.protected = encode({ ...header, zip: 'DEF' }))), 'malformed', 'jwe.protected');
    expectTampered(edited((e) => (e.jwe.protected = encode({ ...header, enc: 'A128GCM' }))), 'malformed', 'jwe.protected.enc');
    expectTampered(edited((e) => (e.jwe.protected = encode({ ...header, cty: 'JWT' }))), 'malformed', 'jwe.protected.cty');
  });
});
