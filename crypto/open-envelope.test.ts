import { CompactSign, GeneralEncrypt } from 'jose';
import type { JWK } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Envelope, EnvelopeBinding, GeneralJwe } from '../common/envelope.ts';
import { ErrorCode, ParleyError } from '../common/errors.ts';
import { TAMPERED_MESSAGE } from './envelope-format.ts';
import { openEnvelope } from './open-envelope.ts';
import type { OpenOptions } from './open-envelope.ts';
import { generateOrgKeys, publicKeysOf } from './org-keys.ts';
import type { OrgKeys } from './org-keys.ts';
import { createMemoryReplayGuard, envelopeDigest } from './replay-guard.ts';
import { p256OrgKeys } from '../test/support/p256-org-keys.ts';
import type { ReplayGuard } from './replay-guard.ts';
import { sealEnvelope } from './seal-envelope.ts';
import { signEnvelope } from './envelope-signature.ts';

const ORGS = ['north', 'south', 'east', 'west', 'mallory'] as const;
type Org = (typeof ORGS)[number];
let keys: Record<Org, OrgKeys>;

beforeAll(async () => {
  const made = await Promise.all(ORGS.map((org) => generateOrgKeys(org)));
  keys = Object.fromEntries(made.map((k) => [k.org, k])) as Record<Org, OrgKeys>;
});

const body = new TextEncoder().encode('{"share":"1234567890"}');
const binding = (overrides: Partial<EnvelopeBinding> = {}): EnvelopeBinding => ({ runId: 'run-1', step: 'sum', from: 'north', to: ['south'], seq: 0, ...overrides });

/** north seals `body` for the orgs in binding.to. */
function seal(b: EnvelopeBinding = binding(), sender: OrgKeys = keys.north): Promise<Envelope> {
  return sealEnvelope({
    binding: b,
    body,
    sender,
    recipients: b.to.map((org) => ({ org, receiveJwk: publicKeysOf(keys[org as Org]).receive.jwk })),
  });
}

/** A replay guard that counts how often it was asked, to show refusals happen before it. */
function countingGuard(): ReplayGuard & { calls: number } {
  const inner = createMemoryReplayGuard();
  const guard = {
    calls: 0,
    admit(b: EnvelopeBinding, digest: string) {
      guard.calls++;
      return inner.admit(b, digest);
    },
  };
  return guard;
}

/** Options for `recipient` opening at run-1/sum, knowing every org's published signing key. */
function options(recipient: Org = 'south', overrides: Partial<OpenOptions> = {}): OpenOptions {
  return {
    expect: { runId: 'run-1', step: 'sum', recipient },
    receiveKey: keys[recipient].receive.privateJwk,
    senderSigningKey: async (org) => (org in keys ? publicKeysOf(keys[org as Org]).sign.jwk : undefined),
    replayGuard: createMemoryReplayGuard(),
    ...overrides,
  };
}

/** Asserts `promise` rejects with a ParleyError of `code`; returns it. */
async function refusal(promise: Promise<unknown>, code: ParleyError['code']): Promise<ParleyError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ParleyError);
  expect((err as ParleyError).code).toBe(code);
  return err as ParleyError;
}

/** Asserts a tampering refusal: the one vague message, and nothing of the body or keys in it. */
async function tamperedRefusal(promise: Promise<unknown>): Promise<ParleyError> {
  const err = await refusal(promise, ErrorCode.EnvelopeTampered);
  expect(err.message).toBe(TAMPERED_MESSAGE);
  const shown = JSON.stringify({ message: err.message, details: err.details });
  expect(shown).not.toContain('share');
  for (const k of Object.values(keys)) {
    expect(shown).not.toContain(k.receive.privateJwk.d);
    expect(shown).not.toContain(k.sign.privateJwk.d);
  }
  return err;
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
/** `text` with the character at `i` replaced by another base64url character. */
function flip(text: string, i: number): string {
  const next = ALPHABET[(ALPHABET.indexOf(text[i]!) + 1) % ALPHABET.length]!;
  return text.slice(0, i) + next + text.slice(i + 1);
}

/** A copy of `envelope` with one JWE string member edited. */
function withJwe(envelope: Envelope, edit: (jwe: GeneralJwe) => void): Envelope {
  const copy = structuredClone(envelope);
  edit(copy.jwe);
  return copy;
}

/**
 * Builds an envelope the way sealEnvelope does, but with every part chosen by the caller: what a
 * recipient that holds the content key, or a forger, could make. The outer signature is made with
 * `outerSignWith` (default `signWith`), under `skid`.
 */
async function forge(parts: { clear: EnvelopeBinding; claims: Record<string, unknown>; signWith: JWK; kid: string; skid: string; recipient: Org; typ?: string; outerSignWith?: JWK }): Promise<Envelope> {
  const jws = await new CompactSign(new TextEncoder().encode(JSON.stringify(parts.claims)))
    .setProtectedHeader({ alg: 'Ed25519', kid: parts.kid, typ: parts.typ ?? 'parley+jws' })
    .sign(parts.signWith);
  const jwe = new GeneralEncrypt(new TextEncoder().encode(jws)).setProtectedHeader({ enc: 'A256GCM', cty: 'parley+jws', skid: parts.skid, parley: parts.clear });
  const receive = keys[parts.recipient].receive.publicJwk;
  jwe.addRecipient(receive).setUnprotectedHeader({ alg: 'ECDH-ES+A256KW', kid: receive.kid });
  const unsigned = { v: 2, binding: parts.clear, jwe: (await jwe.encrypt()) as GeneralJwe } as const;
  return { ...unsigned, sig: await signEnvelope(unsigned, parts.outerSignWith ?? parts.signWith, parts.skid) };
}

const claimsOf = (b: EnvelopeBinding) => ({ ...b, iat: Math.floor(Date.now() / 1000), body: Buffer.from(body).toString('base64url') });

describe('openEnvelope', () => {
  describe('round trip', () => {
    it('opens an envelope sealed for one recipient', async () => {
      const envelope = await seal();
      const opened = await openEnvelope(envelope, options('south'));
      expect(opened.binding).toEqual(binding());
      expect(opened.body).toEqual(body);
    });

    it('opens an envelope sealed for three recipients, at each of them', async () => {
      const b = binding({ to: ['east', 'south', 'west'] });
      const envelope = await seal(b);
      for (const recipient of ['east', 'south', 'west'] as const) {
        const opened = await openEnvelope(envelope, options(recipient));
        expect(opened).toEqual({ binding: b, body });
      }
    });

    it('opens an envelope after a JSON round trip, as through a workflow history', async () => {
      const envelope = await seal();
      const travelled = JSON.parse(JSON.stringify(envelope)) as Envelope;
      expect(envelopeDigest(travelled)).toBe(envelopeDigest(envelope));
      expect((await openEnvelope(travelled, options())).body).toEqual(body);
    });

    it('opens between organisations whose P-256 / ES256 keys were made elsewhere', async () => {
      const [ecNorth, ecSouth] = await Promise.all([p256OrgKeys('north'), p256OrgKeys('south')]);
      const b = binding({ to: ['east', 'south'] });
      const envelope = await sealEnvelope({
        binding: b,
        body,
        sender: ecNorth,
        recipients: [
          { org: 'south', receiveJwk: publicKeysOf(ecSouth).receive.jwk },
          { org: 'east', receiveJwk: keys.east.receive.publicJwk },
        ],
      });
      const known = async () => publicKeysOf(ecNorth).sign.jwk;
      expect(await openEnvelope(envelope, options('south', { receiveKey: ecSouth.receive.privateJwk, senderSigningKey: known }))).toEqual({ binding: b, body });
      expect(await openEnvelope(envelope, options('east', { senderSigningKey: known }))).toEqual({ binding: b, body });
    });

    it('opens an empty body', async () => {
      const envelope = await sealEnvelope({ binding: binding(), body: new Uint8Array(0), sender: keys.north, recipients: [{ org: 'south', receiveJwk: keys.south.receive.publicJwk }] });
      expect((await openEnvelope(envelope, options())).body).toEqual(new Uint8Array(0));
    });
  });

  describe('recipient', () => {
    it('refuses an organisation the envelope is not addressed to', async () => {
      const envelope = await seal(binding({ to: ['east', 'south'] }));
      const err = await refusal(openEnvelope(envelope, options('west')), ErrorCode.EnvelopeRecipient);
      expect(err.message).toMatch(/^Envelope for run "run-1" step "sum" is addressed to east, south, not to "west"\. /);
      expect(err.details).toMatchObject({ runId: 'run-1', step: 'sum', from: 'north', recipient: 'west', to: 'east,south' });
    });

    it('refuses a named recipient whose receive key it was not sealed for', async () => {
      const envelope = await seal();
      const rotated = await generateOrgKeys('south');
      const err = await refusal(openEnvelope(envelope, options('south', { receiveKey: rotated.receive.privateJwk })), ErrorCode.EnvelopeRecipient);
      expect(err.message).toMatch(/names "south" but was not sealed for its receive key [\w-]{4}:[\w-]{4}:[\w-]{4}:[\w-]{4}\. /);
      expect(err.details.receiveKid).toBe(rotated.receive.publicJwk.kid);
    });
  });

  describe('place', () => {
    it('refuses an envelope opened in another run', async () => {
      const envelope = await seal();
      const err = await refusal(openEnvelope(envelope, options('south', { expect: { runId: 'run-2', step: 'sum', recipient: 'south' } })), ErrorCode.EnvelopeBinding);
      expect(err.message).toMatch(/^Envelope was sealed for run "run-1" step "sum" but is being opened at run "run-2" step "sum"\. /);
      expect(err.details).toMatchObject({ runId: 'run-1', expectedRunId: 'run-2' });
    });

    it('refuses an envelope opened at another step', async () => {
      const envelope = await seal();
      const err = await refusal(openEnvelope(envelope, options('south', { expect: { runId: 'run-1', step: 'combine', recipient: 'south' } })), ErrorCode.EnvelopeBinding);
      expect(err.message).toMatch(/step "sum" but is being opened at run "run-1" step "combine"/);
      expect(err.details).toMatchObject({ step: 'sum', expectedStep: 'combine' });
    });
  });

  describe('sender', () => {
    it('refuses an envelope from a sender whose signing key is unknown', async () => {
      const envelope = await seal();
      const err = await refusal(openEnvelope(envelope, options('south', { senderSigningKey: async () => undefined })), ErrorCode.UnknownSender);
      expect(err.message).toMatch(/^Envelope for run "run-1" claims to come from "north", whose signing key is not known here\. /);
      expect(err.details).toMatchObject({ from: 'north', senderKid: keys.north.sign.publicJwk.kid });
    });

    it('refuses when the known signing key is malformed', async () => {
      const envelope = await seal();
      const err = await refusal(openEnvelope(envelope, options('south', { senderSigningKey: async () => keys.north.receive.publicJwk })), ErrorCode.KeyInvalid);
      expect(err.message).toMatch(/^The signing key known for "north" is invalid: it "kty"\/"crv" must be one of/);
    });

    it('refuses an envelope signed with another key than the one known for the sender', async () => {
      const envelope = await seal();
      const err = await tamperedRefusal(openEnvelope(envelope, options('south', { senderSigningKey: async () => keys.west.sign.publicJwk })));
      expect(err.details).toMatchObject({ reason: 'signer-key-mismatch', signerKid: keys.north.sign.publicJwk.kid, knownKid: keys.west.sign.publicJwk.kid });
    });
  });

  describe('tampering', () => {
    const FIELDS = ['ciphertext', 'tag', 'iv', 'protected'] as const;
    for (const field of FIELDS) {
      it(`refuses an envelope with any single character of jwe.${field} changed`, async () => {
        const envelope = await seal();
        const guard = countingGuard();
        const text = envelope.jwe[field];
        for (let i = 0; i < text.length; i++) {
          await tamperedRefusal(openEnvelope(withJwe(envelope, (jwe) => (jwe[field] = flip(text, i))), options('south', { replayGuard: guard })));
        }
        expect(guard.calls).toBe(0);
      });
    }

    it('refuses an envelope with any single character of its outer signature changed, before decrypting', async () => {
      const envelope = await seal();
      const guard = countingGuard();
      const [header, , signature] = envelope.sig.split('.') as [string, string, string];
      for (let i = 0; i < header.length; i++) {
        await tamperedRefusal(openEnvelope({ ...envelope, sig: `${flip(header, i)}..${signature}` }, options('south', { replayGuard: guard })));
      }
      for (let i = 0; i < signature.length; i++) {
        const err = await tamperedRefusal(openEnvelope({ ...envelope, sig: `${header}..${flip(signature, i)}` }, options('south', { replayGuard: guard })));
        // The last character carries spare bits: most of its changes are no longer canonical.
        expect(['envelope-signature-invalid', 'malformed']).toContain(err.details.reason);
      }
      expect(guard.calls).toBe(0);
    });

    it('refuses an envelope whose outer signature is missing, or is that of another envelope', async () => {
      const [first, second] = await Promise.all([seal(binding({ seq: 0 })), seal(binding({ seq: 1 }))]);
      const { sig: _sig, ...unsigned } = first;
      expect((await tamperedRefusal(openEnvelope(unsigned, options()))).details).toMatchObject({ reason: 'malformed', field: 'sig' });
      expect((await tamperedRefusal(openEnvelope({ ...first, sig: second.sig }, options()))).details.reason).toBe('envelope-signature-invalid');
    });

    it('refuses an envelope of the previous format, without an outer signature', async () => {
      const { sig: _sig, ...unsigned } = await seal();
      expect((await tamperedRefusal(openEnvelope({ ...unsigned, v: 1 }, options()))).details).toMatchObject({ reason: 'malformed', field: 'v' });
    });

    it('refuses an envelope with any single character of its encrypted_key changed', async () => {
      const envelope = await seal(binding({ to: ['east', 'south', 'west'] }));
      const entry = envelope.jwe.recipients.findIndex((r) => r.header?.kid === keys.south.receive.publicJwk.kid);
      const text = envelope.jwe.recipients[entry]!.encrypted_key!;
      for (let i = 0; i < text.length; i++) {
        await tamperedRefusal(openEnvelope(withJwe(envelope, (jwe) => (jwe.recipients[entry]!.encrypted_key = flip(text, i))), options('south')));
      }
    });

    it('refuses an envelope with any single character of its ephemeral key changed', async () => {
      const envelope = await seal(binding({ to: ['east', 'south', 'west'] }));
      const entry = envelope.jwe.recipients.findIndex((r) => r.header?.kid === keys.south.receive.publicJwk.kid);
      const epk = envelope.jwe.recipients[entry]!.header!.epk as { x: string };
      for (let i = 0; i < epk.x.length; i++) {
        const changed = withJwe(envelope, (jwe) => ((jwe.recipients[entry]!.header!.epk as { x: string }).x = flip(epk.x, i)));
        await tamperedRefusal(openEnvelope(changed, options('south')));
      }
    });

    it('refuses, at every recipient, an envelope whose other recipient entry was altered', async () => {
      // Each recipient's wrapped key is its own, but the outer signature covers every entry: an
      // envelope altered anywhere is refused everywhere, as an auditor would find it.
      const envelope = await seal(binding({ to: ['east', 'south'] }));
      const east = envelope.jwe.recipients.findIndex((r) => r.header?.kid === keys.east.receive.publicJwk.kid);
      const changed = withJwe(envelope, (jwe) => (jwe.recipients[east]!.encrypted_key = flip(jwe.recipients[east]!.encrypted_key!, 3)));
      expect((await tamperedRefusal(openEnvelope(changed, options('east')))).details.reason).toBe('envelope-signature-invalid');
      expect((await tamperedRefusal(openEnvelope(changed, options('south')))).details.reason).toBe('envelope-signature-invalid');
    });

    it('refuses an envelope whose clear binding was swapped for another', async () => {
      const [first, second] = await Promise.all([seal(binding({ seq: 0 })), seal(binding({ seq: 1 }))]);
      const err = await tamperedRefusal(openEnvelope({ ...first, binding: second.binding }, options()));
      expect(err.details.reason).toBe('clear-binding-mismatch');
    });

    it('refuses an envelope whose clear binding and protected header were both swapped for another', async () => {
      const [first, second] = await Promise.all([seal(binding({ seq: 0 })), seal(binding({ seq: 1 }))]);
      const swapped = { ...first, binding: second.binding, jwe: { ...first.jwe, protected: second.jwe.protected } };
      const err = await tamperedRefusal(openEnvelope(swapped, options()));
      expect(err.details.reason).toBe('envelope-signature-invalid');
    });

    it('refuses an envelope re-signed by another organisation claiming to be the sender', async () => {
      // mallory received north's message, so holds its claims; it re-signs them as "north".
      const b = binding({ to: ['south'] });
      const ownKid = keys.mallory.sign.publicJwk.kid;
      const asMallory = await forge({ clear: b, claims: claimsOf(b), signWith: keys.mallory.sign.privateJwk, kid: ownKid, skid: ownKid, recipient: 'south' });
      expect((await tamperedRefusal(openEnvelope(asMallory, options()))).details.reason).toBe('signer-key-mismatch');

      const northKid = keys.north.sign.publicJwk.kid;
      const claimingNorth = await forge({ clear: b, claims: claimsOf(b), signWith: keys.mallory.sign.privateJwk, kid: northKid, skid: northKid, recipient: 'south' });
      expect((await tamperedRefusal(openEnvelope(claimingNorth, options()))).details.reason).toBe('envelope-signature-invalid');

      // Even were the outer signature north's (it cannot be), the inner one would still be mallory's.
      const innerOnly = await forge({ clear: b, claims: claimsOf(b), signWith: keys.mallory.sign.privateJwk, kid: northKid, skid: northKid, recipient: 'south', outerSignWith: keys.north.sign.privateJwk });
      expect((await tamperedRefusal(openEnvelope(innerOnly, options()))).details.reason).toBe('signature-invalid');
    });

    it('refuses an envelope sealed with the sender key of another organisation', async () => {
      const forged = await sealEnvelope({ binding: binding(), body, sender: { org: 'north', sign: { privateJwk: keys.mallory.sign.privateJwk } }, recipients: [{ org: 'south', receiveJwk: keys.south.receive.publicJwk }] });
      expect((await tamperedRefusal(openEnvelope(forged, options()))).details.reason).toBe('signer-key-mismatch');
    });

    it('refuses an envelope whose clear binding differs from the signed claims', async () => {
      // A recipient can re-encrypt a genuine signed message under a new header; the signature
      // still binds the original place.
      const signed = binding({ seq: 4 });
      const kid = keys.north.sign.publicJwk.kid;
      const moved = await forge({ clear: binding({ seq: 5 }), claims: claimsOf(signed), signWith: keys.north.sign.privateJwk, kid, skid: kid, recipient: 'south' });
      expect((await tamperedRefusal(openEnvelope(moved, options()))).details.reason).toBe('signed-binding-mismatch');
    });

    it('refuses signed claims that are malformed', async () => {
      const b = binding();
      const kid = keys.north.sign.publicJwk.kid;
      const extra = await forge({ clear: b, claims: { ...claimsOf(b), admin: true }, signWith: keys.north.sign.privateJwk, kid, skid: kid, recipient: 'south' });
      expect((await tamperedRefusal(openEnvelope(extra, options()))).details.reason).toBe('claims-malformed');
    });

    it('refuses a JWS by the sender that was not made as a Parley message', async () => {
      const b = binding();
      const kid = keys.north.sign.publicJwk.kid;
      const jwt = await forge({ clear: b, claims: claimsOf(b), signWith: keys.north.sign.privateJwk, kid, skid: kid, recipient: 'south', typ: 'JWT' });
      expect((await tamperedRefusal(openEnvelope(jwt, options()))).details.reason).toBe('claims-malformed');
    });
  });

  describe('replay', () => {
    it('refuses the same (run, sender, seq) arriving as a different envelope', async () => {
      const guard = createMemoryReplayGuard();
      const [first, second] = await Promise.all([seal(), seal()]);
      await openEnvelope(first, options('south', { replayGuard: guard }));
      const err = await refusal(openEnvelope(second, options('south', { replayGuard: guard })), ErrorCode.EnvelopeReplayed);
      expect(err.message).toMatch(/^Envelope seq 0 from "north" in run "run-1" was already opened here as another envelope or at another step; refused as a replay\. /);
      expect(err.details).toMatchObject({ runId: 'run-1', step: 'sum', from: 'north', seq: 0 });
    });

    it('admits the same envelope re-opened at the same step, as an activity retry does', async () => {
      const guard = createMemoryReplayGuard();
      const envelope = await seal();
      await openEnvelope(envelope, options('south', { replayGuard: guard }));
      expect((await openEnvelope(envelope, options('south', { replayGuard: guard }))).body).toEqual(body);
    });

    it('admits the next sequence number from the same sender', async () => {
      const guard = createMemoryReplayGuard();
      await openEnvelope(await seal(binding({ seq: 0 })), options('south', { replayGuard: guard }));
      await expect(openEnvelope(await seal(binding({ seq: 1 })), options('south', { replayGuard: guard }))).resolves.toBeDefined();
    });
  });

  describe('options', () => {
    it('refuses bad options with a TypeError before reading the envelope', async () => {
      const envelope = await seal();
      await expect(openEnvelope(envelope, options('south', { expect: { runId: 'run 1', step: 'sum', recipient: 'south' } }))).rejects.toThrow(/expect\.runId must be a run id/);
      await expect(openEnvelope(envelope, options('south', { receiveKey: keys.south.receive.publicJwk }))).rejects.toThrow(TypeError);
      await expect(openEnvelope(envelope, options('south', { receiveKey: keys.south.sign.privateJwk }))).rejects.toThrow(/receiveKey "kty"\/"crv"/);
      await expect(openEnvelope(envelope, options('south', { replayGuard: {} as ReplayGuard }))).rejects.toThrow(/replayGuard must have an admit\(\) method/);
    });
  });
});
