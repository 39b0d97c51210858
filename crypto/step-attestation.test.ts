import { CompactSign } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import type { StepAttestationClaims } from '../common/attestation.ts';
import { generateOrgKeys, publicKeysOf } from './org-keys.ts';
import type { OrgKeys } from './org-keys.ts';
import { allowListEntryDigest, signStepAttestation, verifyStepAttestation } from './step-attestation.ts';

let north: OrgKeys;
let south: OrgKeys;
beforeAll(async () => {
  [north, south] = await Promise.all([generateOrgKeys('north'), generateOrgKeys('south')]);
});

const image = { name: 'parley/secure-sum:abc', digest: `sha256:${'a'.repeat(64)}` };
const claims = (): StepAttestationClaims => ({
  runId: 'run-1', step: 'ring.0.start', org: 'north', image, ran: image.digest,
  allowListEntry: allowListEntryDigest(image), sealed: ['digest-1'], iat: 1,
});

describe('step attestation', () => {
  it('verifies with the site\'s public signing key and returns the claims', async () => {
    const jws = await signStepAttestation(claims(), north.sign.privateJwk);
    expect(await verifyStepAttestation(jws, publicKeysOf(north).sign.jwk)).toEqual({ ok: true, claims: claims() });
  });

  it('is refused under another site\'s key, or with any character of it changed', async () => {
    const jws = await signStepAttestation(claims(), north.sign.privateJwk);
    expect(await verifyStepAttestation(jws, publicKeysOf(south).sign.jwk)).toMatchObject({ ok: false });
    const key = publicKeysOf(north).sign.jwk;
    for (let i = 0; i < jws.length; i += 7) {
      const flipped = jws.slice(0, i) + (jws[i] === 'A' ? 'B' : 'A') + jws.slice(i + 1);
      if (flipped === jws) continue;
      expect((await verifyStepAttestation(flipped, key)).ok).toBe(false);
    }
    expect(await verifyStepAttestation(undefined, key)).toEqual({ ok: false, problem: 'the attestation is missing or not a compact JWS' });
  });

  it('is the JWS jose signs, byte for byte (Ed25519 is deterministic), and verifies with jose', async () => {
    const jws = await signStepAttestation(claims(), north.sign.privateJwk);
    const byJose = await new CompactSign(new TextEncoder().encode(JSON.stringify(claims())))
      .setProtectedHeader({ alg: 'Ed25519', kid: north.sign.publicJwk.kid, typ: 'parley+attestation' })
      .sign(north.sign.privateJwk);
    expect(jws).toBe(byJose);
  });

  it('digests an allow-list entry by name and digest, whatever the member order', () => {
    expect(allowListEntryDigest({ digest: image.digest, name: image.name })).toBe(allowListEntryDigest(image));
    expect(allowListEntryDigest({ ...image, name: 'other' })).not.toBe(allowListEntryDigest(image));
  });
});
