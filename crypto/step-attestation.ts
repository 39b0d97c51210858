/**
 * Signing and checking a site's step attestation (common/attestation.ts): a compact JWS (RFC 7515)
 * by the site's signing key, `typ` "parley+attestation", over the claims' JSON. Checking needs the
 * site's public key only, and returns its verdict as a value: an auditor lists every problem.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7515#section-7.1 (compact serialisation)
 */
import { createHash } from 'node:crypto';
import { compactVerify } from 'jose';
import type { JWK } from 'jose';
import type { StepAttestationClaims } from '../common/attestation.ts';
import { isOrgId, isRunId, isStepId } from '../common/ids.ts';
import { canonicalJson } from './canonical-json.ts';
import { keyThumbprint, kindOf } from './jwk-kinds.ts';
import { signCompactJws, type SignAlg } from './node-jose.ts';

/** `typ` of an attestation: no other JWS by the same key is taken for one. */
export const ATTESTATION_TYPE = 'parley+attestation';

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** SHA-256 (base64url) of an allow-list entry's canonical JSON, as attested. */
export function allowListEntryDigest(entry: { name: string; digest: string }): string {
  return createHash('sha256').update(canonicalJson({ name: entry.name, digest: entry.digest }), 'utf8').digest('base64url');
}

/**
 * Signs `claims` with the site's private signing key. Once per step, so over synchronous
 * node:crypto (node-jose.ts): the same compact JWS as jose's CompactSign (byte for byte with
 * Ed25519, whose signatures are deterministic; step-attestation.test.ts).
 */
export async function signStepAttestation(claims: StepAttestationClaims, signKey: JWK): Promise<string> {
  return signCompactJws({ alg: kindOf(signKey, 'sign').alg as SignAlg, kid: keyThumbprint(signKey), typ: ATTESTATION_TYPE }, encoder.encode(JSON.stringify(claims)), signKey);
}

export type AttestationVerdict = { ok: true; claims: StepAttestationClaims } | { ok: false; problem: string };

/** Whether `jws` is an attestation signed by `siteKey` (public), and its claims when it is. */
export async function verifyStepAttestation(jws: unknown, siteKey: JWK): Promise<AttestationVerdict> {
  if (typeof jws !== 'string') return { ok: false, problem: 'the attestation is missing or not a compact JWS' };
  let payload: Uint8Array;
  try {
    const verified = await compactVerify(jws, siteKey, { algorithms: [kindOf(siteKey, 'sign').alg] });
    if (verified.protectedHeader.typ !== ATTESTATION_TYPE) return { ok: false, problem: `its typ is not "${ATTESTATION_TYPE}"` };
    if (verified.protectedHeader.kid !== keyThumbprint(siteKey)) return { ok: false, problem: 'it names another signing key than the site\'s published one' };
    payload = verified.payload;
  } catch {
    return { ok: false, problem: 'its signature does not verify with the site\'s published signing key' };
  }
  let claims: unknown;
  try {
    claims = JSON.parse(decoder.decode(payload));
  } catch {
    return { ok: false, problem: 'its claims are not JSON' };
  }
  return claimsProblem(claims) === undefined ? { ok: true, claims: claims as StepAttestationClaims } : { ok: false, problem: `its claims ${claimsProblem(claims)}` };
}

function claimsProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'are not an object';
  const c = value as Record<string, unknown>;
  if (!isRunId(c.runId) || !isStepId(c.step) || !isOrgId(c.org)) return 'lack a run, step or organisation id';
  const image = c.image as Record<string, unknown> | null;
  if (typeof image !== 'object' || image === null || typeof image.name !== 'string' || typeof image.digest !== 'string') return 'lack the image';
  if (typeof c.ran !== 'string' || typeof c.allowListEntry !== 'string') return 'lack the image run or the allow-list entry';
  if (!Array.isArray(c.sealed) || !c.sealed.every((d) => typeof d === 'string')) return 'lack the sealed envelopes\' digests';
  if (typeof c.iat !== 'number') return 'lack iat';
  return undefined;
}
