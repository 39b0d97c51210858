/**
 * A run manifest verifies over node:crypto when jose's compactVerify, restricted to the requester
 * key's algorithm, would accept it (RFC 7515 §5.2) and its kid names that key — save a header
 * with crit, which Parley never signs and now refuses whatever it names.
 */
import { CompactSign, compactVerify, exportJWK, generateKeyPair, type JWK } from 'jose';
import { describe, expect, it } from 'vitest';
import { ErrorCode, type ParleyError } from '../common/errors.ts';
import { MANIFEST_TYPE, MANIFEST_VERSION, type RunManifest } from '../common/run-manifest.ts';
import { canonicalJson } from './canonical-json.ts';
import { keyThumbprint } from './jwk-kinds.ts';
import { generateOrgKeys } from './org-keys.ts';
import { signRunManifest, verifyRunManifest } from './run-manifest.ts';

function manifestOf(): RunManifest {
  const now = Date.now();
  return {
    v: MANIFEST_VERSION, runId: 'run-1', collaboration: 'study', requester: 'lab', participants: ['north', 'south', 'east'],
    plan: { kind: 'secure-sum', protocol: 'ring', image: { name: 'parley/secure-sum', digest: `sha256:${'d'.repeat(64)}` }, dataset: 'counts', modulus: (2n ** 64n).toString() },
    createdAt: new Date(now - 1000).toISOString(), expiresAt: new Date(now + 3_600_000).toISOString(),
  } as RunManifest;
}

async function es256(): Promise<{ publicJwk: JWK; privateJwk: JWK }> {
  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
  return { publicJwk: await exportJWK(publicKey), privateJwk: await exportJWK(privateKey) };
}

const refusal = async (promise: Promise<unknown>): Promise<ParleyError> => {
  try {
    await promise;
  } catch (err) {
    return err as ParleyError;
  }
  throw new Error('expected a refusal');
};

/** A JWS over the manifest's canonical JSON with a header of our choosing, signed by jose. */
function signedWith(header: Record<string, unknown>, key: JWK, manifest = manifestOf()): Promise<string> {
  return new CompactSign(new TextEncoder().encode(canonicalJson(manifest))).setProtectedHeader(header as { alg: string }).sign(key);
}

describe('run manifest verification (RFC 7515 §5.2)', () => {
  it('verifies what signRunManifest signed, with Ed25519 and with ES256, as jose does', async () => {
    const ed = (await generateOrgKeys('lab')).sign;
    const ec = await es256();
    for (const key of [ed, ec]) {
      const manifest = manifestOf();
      const jws = await signRunManifest(manifest, key.privateJwk);
      expect(await verifyRunManifest(jws, key.publicJwk)).toEqual(manifest);
      await expect(compactVerify(jws, key.publicJwk)).resolves.toBeDefined();
    }
  });

  it('refuses a manifest signed by another key, a changed payload, and a kid that is not the key', async () => {
    const lab = (await generateOrgKeys('lab')).sign;
    const other = (await generateOrgKeys('lab')).sign;
    const jws = await signRunManifest(manifestOf(), lab.privateJwk);
    expect((await refusal(verifyRunManifest(jws, other.publicJwk))).code).toBe(ErrorCode.ManifestInvalid);
    const [h, p, s] = jws.split('.') as [string, string, string];
    const changed = `${h}.${p.slice(0, -2)}${p.endsWith('A') ? 'B' : 'A'}${p.slice(-1)}.${s}`;
    expect((await refusal(verifyRunManifest(changed, lab.publicJwk))).code).toBe(ErrorCode.ManifestInvalid);
    const wrongKid = await signedWith({ alg: 'Ed25519', kid: keyThumbprint(other.publicJwk), typ: MANIFEST_TYPE }, lab.privateJwk);
    expect((await refusal(verifyRunManifest(wrongKid, lab.publicJwk))).code).toBe(ErrorCode.ManifestInvalid);
  });

  it('refuses a header whose alg is not the key\'s, or that carries crit (Parley signs none; jose would take b64 here)', async () => {
    const ec = await es256();
    const kid = keyThumbprint(ec.publicJwk);
    const es384 = await generateKeyPair('ES384', { extractable: true });
    const otherAlg = await signedWith({ alg: 'ES384', kid, typ: MANIFEST_TYPE }, await exportJWK(es384.privateKey));
    expect((await refusal(verifyRunManifest(otherAlg, ec.publicJwk))).code).toBe(ErrorCode.ManifestInvalid);
    const crit = await signedWith({ alg: 'ES256', kid, typ: MANIFEST_TYPE, crit: ['b64'], b64: true }, ec.privateJwk);
    expect((await refusal(verifyRunManifest(crit, ec.publicJwk))).code).toBe(ErrorCode.ManifestInvalid);
    // The same header without crit verifies: the refusal above is crit's.
    const plain = await signedWith({ alg: 'ES256', kid, typ: MANIFEST_TYPE }, ec.privateJwk);
    expect((await verifyRunManifest(plain, ec.publicJwk)).runId).toBe('run-1');
  });
});
