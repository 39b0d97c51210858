/**
 * Envelopes whose body travels beside them as a blob (body-stream.ts): the envelope carries the
 * blob's digest and size in the clear under the outer signature, and the body's key with the
 * digest and size again in the signed, encrypted claims.
 */
import { createHash } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Envelope, EnvelopeBinding } from '../common/envelope.ts';
import { ErrorCode } from '../common/errors.ts';
import { newFileKey } from './body-stream.ts';
import { signEnvelope } from './envelope-signature.ts';
import { inspectEnvelope } from './inspect-envelope.ts';
import { openEnvelope } from './open-envelope.ts';
import { generateOrgKeys, publicKeysOf, type OrgKeys } from './org-keys.ts';
import { createMemoryReplayGuard, envelopeDigest } from './replay-guard.ts';
import { sealEnvelope } from './seal-envelope.ts';
import { verifyEnvelopeSignature } from './verify-envelope.ts';

let north: OrgKeys;
let south: OrgKeys;
let mallory: OrgKeys;
beforeAll(async () => {
  [north, south, mallory] = await Promise.all([generateOrgKeys('north'), generateOrgKeys('south'), generateOrgKeys('mallory')]);
});

const binding: EnvelopeBinding = { runId: 'run-1', step: 'send', from: 'north', to: ['south'], seq: 0 };
const digestOf = (text: string) => createHash('sha256').update(text).digest('base64url');
const blob = { digest: digestOf('the blob'), size: 1_000_000 };

function sealDetached(fileKey: Uint8Array = newFileKey(), detached = blob, sender: OrgKeys = north): Promise<Envelope> {
  return sealEnvelope({ binding: { ...binding, from: sender.org }, detached: { fileKey, ...detached }, sender, recipients: [{ org: 'south', receiveJwk: publicKeysOf(south).receive.jwk }] });
}
const openAtSouth = (envelope: unknown, signer: OrgKeys = north) => openEnvelope(envelope, {
  expect: { runId: 'run-1', step: 'send', recipient: 'south' },
  receiveKey: south.receive.privateJwk,
  senderSigningKey: async (org) => (org === signer.org ? publicKeysOf(signer).sign.jwk : undefined),
  replayGuard: createMemoryReplayGuard(),
});
const reasonOf = (promise: Promise<unknown>) => promise.then(() => 'opened', (err: { code?: string; details?: { reason?: string } }) => `${err.code} ${err.details?.reason ?? ''}`.trim());

describe('an envelope with a detached body', () => {
  it('opens to the blob\'s key, digest and size as the sender signed them, and shows the blob in the clear', async () => {
    const fileKey = newFileKey();
    const envelope = await sealDetached(fileKey);
    expect(envelope.detached).toEqual(blob);
    expect(JSON.stringify(envelope).length).toBeLessThan(2500);
    expect(inspectEnvelope(envelope).detached).toEqual(blob);
    const opened = await openAtSouth(envelope);
    expect(opened).toEqual({ binding, detached: { fileKey: new Uint8Array(fileKey), ...blob } });
    // Anyone with north's public key checks the clear reference without opening anything.
    await expect(verifyEnvelopeSignature(envelope, publicKeysOf(north).sign.jwk)).resolves.toMatchObject({ binding, detached: blob });
  });

  it('never shows the body\'s key outside the ciphertext', async () => {
    const fileKey = newFileKey();
    const text = JSON.stringify(await sealDetached(fileKey));
    expect(text).not.toContain(Buffer.from(fileKey).toString('base64url'));
    expect(text).not.toContain(Buffer.from(fileKey).toString('base64'));
  });

  it('refuses a relay that points the clear reference at another blob: the outer signature covers it', async () => {
    const envelope = await sealDetached();
    for (const detached of [{ ...blob, digest: digestOf('another blob') }, { ...blob, size: blob.size + 1 }]) {
      expect(await reasonOf(openAtSouth({ ...envelope, detached }))).toBe(`${ErrorCode.EnvelopeTampered} envelope-signature-invalid`);
    }
    const { detached: _dropped, ...inline } = envelope;
    expect(await reasonOf(openAtSouth(inline))).toBe(`${ErrorCode.EnvelopeTampered} envelope-signature-invalid`);
  });

  it('refuses a sender\'s envelope whose clear reference differs from its signed one, re-signed outside', async () => {
    // Mallory seals for another blob than the one she names in the clear, and signs the whole as
    // herself: the outer signature holds, and the signed claims still give her away.
    const envelope = await sealDetached(newFileKey(), blob, mallory);
    const unsigned = { v: envelope.v, binding: envelope.binding, detached: { ...blob, digest: digestOf('swapped') }, jwe: envelope.jwe };
    const resigned = { ...unsigned, sig: signEnvelope(unsigned, mallory.sign.privateJwk, inspectEnvelope(envelope).senderKid) };
    expect(await reasonOf(openAtSouth(resigned, mallory))).toBe(`${ErrorCode.EnvelopeTampered} detached-mismatch`);
  });

  it('refuses a malformed clear reference before any key is used', async () => {
    const envelope = await sealDetached();
    for (const detached of [{ digest: 'short', size: 10 }, { ...blob, size: -1 }, { ...blob, size: 1.5 }, { ...blob, extra: 1 }, 'blob']) {
      expect(await reasonOf(openAtSouth({ ...envelope, detached }))).toBe(`${ErrorCode.EnvelopeTampered} malformed`);
    }
  });

  it('names its blob in its digest, so the replay guard and the attestation tell two blobs apart', async () => {
    const fileKey = newFileKey();
    const [a, b] = [await sealDetached(fileKey), await sealDetached(fileKey, { ...blob, digest: digestOf('other') })];
    expect(envelopeDigest(a)).not.toBe(envelopeDigest(b));
  });

  it('is a programmer error to give a body and a detached body, or a key of the wrong length', async () => {
    const recipients = [{ org: 'south', receiveJwk: publicKeysOf(south).receive.jwk }];
    await expect(sealEnvelope({ binding, body: new Uint8Array(1), detached: { fileKey: newFileKey(), ...blob }, sender: north, recipients } as never)).rejects.toThrow(TypeError);
    await expect(sealEnvelope({ binding, detached: { fileKey: new Uint8Array(8), ...blob }, sender: north, recipients })).rejects.toThrow(/16 bytes/);
  });
});
