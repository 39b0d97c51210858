/**
 * A worker verifies a run's manifest once, and only what verified is remembered: a changed byte,
 * another key or an earlier refusal is never taken from the cache.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, type ParleyError } from '../common/errors.ts';
import { MANIFEST_VERSION, type RunManifest } from '../common/run-manifest.ts';
import { generateOrgKeys, signRunManifest, type OrgKeys } from '../crypto/index.ts';
import { VerifiedManifests } from './verified-manifests.ts';

let lab: OrgKeys;
let other: OrgKeys;

beforeAll(async () => {
  lab = await generateOrgKeys('lab');
  other = await generateOrgKeys('lab');
});

function manifestOf(overrides: Partial<RunManifest> = {}): RunManifest {
  const now = Date.now();
  return {
    v: MANIFEST_VERSION, runId: 'run-1', collaboration: 'study', requester: 'lab', participants: ['north', 'south', 'east'],
    plan: { kind: 'secure-sum', protocol: 'additive', image: { name: 'parley/additive-sum', digest: `sha256:${'c'.repeat(64)}` }, dataset: 'counts', modulus: (2n ** 64n).toString() },
    createdAt: new Date(now - 1000).toISOString(), expiresAt: new Date(now + 3_600_000).toISOString(),
    ...overrides,
  } as RunManifest;
}

const refusal = async (promise: Promise<unknown>): Promise<ParleyError> => {
  try {
    await promise;
  } catch (err) {
    return err as ParleyError;
  }
  throw new Error('expected a refusal');
};

/** The JWS with one character of its payload changed (still base64url). */
function tamper(jws: string): string {
  const [header, payload, signature] = jws.split('.') as [string, string, string];
  const i = Math.floor(payload.length / 2);
  const swapped = payload[i] === 'A' ? 'B' : 'A';
  return `${header}.${payload.slice(0, i)}${swapped}${payload.slice(i + 1)}.${signature}`;
}

describe('verified manifests', () => {
  it('returns the signed claims, the first time and again from the cache', async () => {
    const manifests = new VerifiedManifests();
    const manifest = manifestOf();
    const jws = await signRunManifest(manifest, lab.sign.privateJwk);
    expect(await manifests.verify(jws, lab.sign.publicJwk)).toEqual(manifest);
    const again = await manifests.verify(jws, lab.sign.publicJwk);
    expect(again).toEqual(manifest);
    // A fresh parse each time: one step's use of the claims cannot change another's.
    expect(again).not.toBe(await manifests.verify(jws, lab.sign.publicJwk));
  });

  it('refuses a manifest changed after the original verified', async () => {
    const manifests = new VerifiedManifests();
    const jws = await signRunManifest(manifestOf(), lab.sign.privateJwk);
    await manifests.verify(jws, lab.sign.publicJwk);
    expect((await refusal(manifests.verify(tamper(jws), lab.sign.publicJwk))).code).toBe(ErrorCode.ManifestInvalid);
  });

  it('verifies again against another key, and refuses there what that key did not sign', async () => {
    const manifests = new VerifiedManifests();
    const jws = await signRunManifest(manifestOf(), lab.sign.privateJwk);
    await manifests.verify(jws, lab.sign.publicJwk);
    expect((await refusal(manifests.verify(jws, other.sign.publicJwk))).code).toBe(ErrorCode.ManifestInvalid);
  });

  it('does not remember a refusal: the right key still verifies afterwards, the wrong one is still refused', async () => {
    const manifests = new VerifiedManifests();
    const jws = await signRunManifest(manifestOf(), lab.sign.privateJwk);
    expect((await refusal(manifests.verify(jws, other.sign.publicJwk))).code).toBe(ErrorCode.ManifestInvalid);
    expect((await manifests.verify(jws, lab.sign.publicJwk)).runId).toBe('run-1');
    expect((await refusal(manifests.verify(jws, other.sign.publicJwk))).code).toBe(ErrorCode.ManifestInvalid);
  });

  it('refuses what is not a manifest as verifyRunManifest does', async () => {
    const manifests = new VerifiedManifests();
    expect((await refusal(manifests.verify(undefined, lab.sign.publicJwk))).code).toBe(ErrorCode.ManifestInvalid);
    expect((await refusal(manifests.verify('a.b.c', lab.sign.publicJwk))).code).toBe(ErrorCode.ManifestInvalid);
  });

  it('keeps at most its bound, dropping the least recently used', async () => {
    const manifests = new VerifiedManifests(2);
    const jws = await Promise.all(['run-1', 'run-2', 'run-3'].map((runId) => signRunManifest(manifestOf({ runId }), lab.sign.privateJwk)));
    for (const j of jws) await manifests.verify(j, lab.sign.publicJwk);
    // Still correct after eviction: the dropped one is verified afresh.
    expect((await manifests.verify(jws[0]!, lab.sign.publicJwk)).runId).toBe('run-1');
    expect((await refusal(manifests.verify(tamper(jws[0]!), lab.sign.publicJwk))).code).toBe(ErrorCode.ManifestInvalid);
  });
});
