import { beforeAll, describe, expect, it } from 'vitest';
import type { Envelope } from '../common/envelope.ts';
import { ErrorCode, ParleyError } from '../common/errors.ts';
import { TAMPERED_MESSAGE } from './envelope-format.ts';
import { generateOrgKeys, publicKeysOf } from './org-keys.ts';
import type { OrgKeys } from './org-keys.ts';
import { sealEnvelope } from './seal-envelope.ts';
import { verifyEnvelopeSignature } from './verify-envelope.ts';

let north: OrgKeys;
let south: OrgKeys;
let east: OrgKeys;
let envelope: Envelope;
beforeAll(async () => {
  [north, south, east] = await Promise.all([generateOrgKeys('north'), generateOrgKeys('south'), generateOrgKeys('east')]);
  envelope = await sealEnvelope({
    binding: { runId: 'run-1', step: 'sum', from: 'north', to: ['east', 'south'], seq: 7 },
    body: new TextEncoder().encode('{"partial":"123456"}'),
    sender: north,
    recipients: [
      { org: 'south', receiveJwk: publicKeysOf(south).receive.jwk },
      { org: 'east', receiveJwk: publicKeysOf(east).receive.jwk },
    ],
  });
});

/** The reason of the EnvelopeTampered `promise` rejects with; fails the test on anything else. */
async function tamperReason(promise: Promise<unknown>): Promise<string> {
  const err = await promise.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(ParleyError);
  expect((err as ParleyError).code).toBe(ErrorCode.EnvelopeTampered);
  expect((err as ParleyError).message).toBe(TAMPERED_MESSAGE);
  return String((err as ParleyError).details.reason);
}

describe('verifyEnvelopeSignature (no private key)', () => {
  it('accepts the envelope as sealed, and after a JSON round trip with its members reordered', async () => {
    const northKey = publicKeysOf(north).sign.jwk;
    expect((await verifyEnvelopeSignature(envelope, northKey)).binding.seq).toBe(7);
    const { sig, jwe, binding, v } = JSON.parse(JSON.stringify(envelope)) as Envelope;
    await expect(verifyEnvelopeSignature({ sig, jwe: { tag: jwe.tag, iv: jwe.iv, ciphertext: jwe.ciphertext, recipients: jwe.recipients, protected: jwe.protected }, binding, v }, northKey)).resolves.toBeDefined();
  });

  it('finds any single flipped bit in any byte of the envelope as it travels (its JSON text)', async () => {
    const northKey = publicKeysOf(north).sign.jwk;
    const text = JSON.stringify(envelope);
    const reasons = new Set<string>();
    for (let i = 0; i < text.length; i++) {
      const flipped = text.slice(0, i) + String.fromCharCode(text.charCodeAt(i) ^ 1) + text.slice(i + 1);
      let value: unknown;
      try {
        value = JSON.parse(flipped);
      } catch {
        continue; // no longer JSON: no reader would take it for an envelope
      }
      reasons.add(await tamperReason(verifyEnvelopeSignature(value, northKey)));
    }
    // Every kind of check took part: the shape, the clear copy of the binding, the signer, the signature.
    expect([...reasons].sort()).toEqual(['clear-binding-mismatch', 'envelope-signature-invalid', 'malformed', 'signer-key-mismatch']);
  });

  it('refuses the envelope under another organisation\'s key, and one re-signed by another key', async () => {
    expect(await tamperReason(verifyEnvelopeSignature(envelope, publicKeysOf(east).sign.jwk))).toBe('signer-key-mismatch');
  });

  it('refuses a private key with a TypeError: it needs none', async () => {
    await expect(verifyEnvelopeSignature(envelope, north.sign.privateJwk)).rejects.toThrow(TypeError);
  });
});
