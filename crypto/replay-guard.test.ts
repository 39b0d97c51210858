import { describe, expect, it } from 'vitest';
import type { Envelope, EnvelopeBinding } from '../common/envelope.ts';
import { createMemoryReplayGuard, envelopeDigest } from './replay-guard.ts';

const binding: EnvelopeBinding = { runId: 'run-1', step: 'sum', from: 'north', to: ['south'], seq: 0 };

describe('createMemoryReplayGuard', () => {
  it('admits a new (run, sender, seq)', async () => {
    expect(await createMemoryReplayGuard().admit(binding, 'digest-a')).toBe(true);
  });

  it('admits the same envelope at the same step again, as an activity retry does', async () => {
    const guard = createMemoryReplayGuard();
    await guard.admit(binding, 'digest-a');
    expect(await guard.admit(binding, 'digest-a')).toBe(true);
  });

  it('refuses another envelope with the same (run, sender, seq)', async () => {
    const guard = createMemoryReplayGuard();
    await guard.admit(binding, 'digest-a');
    expect(await guard.admit(binding, 'digest-b')).toBe(false);
  });

  it('refuses the same (run, sender, seq) at another step', async () => {
    const guard = createMemoryReplayGuard();
    await guard.admit(binding, 'digest-a');
    expect(await guard.admit({ ...binding, step: 'combine' }, 'digest-a')).toBe(false);
  });

  it('keeps senders, sequence numbers and runs apart', async () => {
    const guard = createMemoryReplayGuard();
    await guard.admit(binding, 'digest-a');
    expect(await guard.admit({ ...binding, from: 'east' }, 'digest-b')).toBe(true);
    expect(await guard.admit({ ...binding, seq: 1 }, 'digest-c')).toBe(true);
    expect(await guard.admit({ ...binding, runId: 'run-2' }, 'digest-d')).toBe(true);
  });

  it('forgets a run when told it ended', async () => {
    const guard = createMemoryReplayGuard();
    await guard.admit(binding, 'digest-a');
    guard.forget('run-1');
    expect(await guard.admit(binding, 'digest-b')).toBe(true);
  });
});

describe('envelopeDigest', () => {
  const envelope: Envelope = {
    v: 2,
    binding,
    jwe: { protected: 'eyJ9', recipients: [{ header: { alg: 'ECDH-ES+A256KW', kid: 'k' }, encrypted_key: 'AAAA' }], iv: 'AAAA', ciphertext: 'AAAA', tag: 'AAAA' },
    sig: 'eyJ9..AAAA',
  };

  it('is a base64url SHA-256', () => {
    expect(envelopeDigest(envelope)).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('does not depend on member order or on members set to undefined', () => {
    const reordered = JSON.parse(JSON.stringify({ jwe: { ...envelope.jwe, aad: undefined }, binding: envelope.binding, v: 2, sig: envelope.sig })) as Envelope;
    expect(envelopeDigest(reordered)).toBe(envelopeDigest(envelope));
    expect(envelopeDigest({ ...envelope, jwe: { ...envelope.jwe, unprotected: undefined } })).toBe(envelopeDigest(envelope));
  });

  it('changes when any value changes', () => {
    const base = envelopeDigest(envelope);
    expect(envelopeDigest({ ...envelope, binding: { ...binding, seq: 1 } })).not.toBe(base);
    expect(envelopeDigest({ ...envelope, jwe: { ...envelope.jwe, tag: 'AAAB' } })).not.toBe(base);
    expect(envelopeDigest({ ...envelope, sig: 'eyJ9..AAAB' })).not.toBe(base);
    expect(envelopeDigest({ ...envelope, jwe: { ...envelope.jwe, recipients: [{ header: { alg: 'ECDH-ES+A256KW', kid: 'l' }, encrypted_key: 'AAAA' }] } })).not.toBe(base);
  });
});
