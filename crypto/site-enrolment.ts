/**
 * A site's enrolment: the organisation's own consent that its site joins one collaboration, as a
 * compact JWS (RFC 7515) by the organisation's signing key, `typ` "parley+site-enrolment", over
 * `{ org, collaborationId, iat, exp }`. Only the holder of the private key — the site's operator,
 * whose key file never leaves the site — can make one, so a server admin cannot enrol another
 * organisation's site without it, even through a user account the admin made for that
 * organisation. Short-lived, so one found later does not enrol the site again.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7515#section-7.1 (compact serialisation)
 */
import { CompactSign, compactVerify } from 'jose';
import type { JWK } from 'jose';
import { isOrgId } from '../common/ids.ts';
import { keyThumbprint, kindOf } from './jwk-kinds.ts';
import type { OrgKeys } from './org-keys.ts';

/** `typ` of an enrolment: no other JWS by the same key (an attestation, say) is taken for one. */
export const ENROLMENT_TYPE = 'parley+site-enrolment';

/** How long an enrolment may be used after it was signed. */
export const ENROLMENT_TTL_SECONDS = 600;

/** What an enrolment says. */
export interface SiteEnrolmentClaims {
  org: string;
  collaborationId: string;
  /** Signed at, seconds since the epoch. */
  iat: number;
  /** Not to be used after, seconds since the epoch. */
  exp: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });
// Allowed drift between the signer's clock and the server's.
const SKEW_SECONDS = 60;

/** Signs `keys.org`'s consent to enrol its site in `collaborationId`. */
export async function signSiteEnrolment(keys: OrgKeys, collaborationId: string, now: Date = new Date()): Promise<string> {
  const iat = Math.floor(now.getTime() / 1000);
  const claims: SiteEnrolmentClaims = { org: keys.org, collaborationId, iat, exp: iat + ENROLMENT_TTL_SECONDS };
  return new CompactSign(encoder.encode(JSON.stringify(claims)))
    .setProtectedHeader({ alg: kindOf(keys.sign.privateJwk, 'sign').alg, kid: keyThumbprint(keys.sign.publicJwk), typ: ENROLMENT_TYPE })
    .sign(keys.sign.privateJwk);
}

/** The verdict, as a value: the API says exactly what was wrong. */
export type EnrolmentVerdict = { ok: true; claims: SiteEnrolmentClaims } | { ok: false; problem: string };

/**
 * Whether `jws` is `expected.org`'s enrolment in `expected.collaborationId`, signed by `signKey`
 * (the organisation's published public signing key) and fresh at `now`.
 */
export async function verifySiteEnrolment(jws: unknown, signKey: JWK, expected: { org: string; collaborationId: string }, now: Date): Promise<EnrolmentVerdict> {
  if (typeof jws !== 'string') return { ok: false, problem: 'it is missing or not a compact JWS' };
  let payload: Uint8Array;
  try {
    const verified = await compactVerify(jws, signKey, { algorithms: [kindOf(signKey, 'sign').alg] });
    if (verified.protectedHeader.typ !== ENROLMENT_TYPE) return { ok: false, problem: `its typ is not "${ENROLMENT_TYPE}"` };
    payload = verified.payload;
  } catch {
    return { ok: false, problem: `its signature does not verify with "${expected.org}"'s published signing key` };
  }
  let claims: unknown;
  try {
    claims = JSON.parse(decoder.decode(payload));
  } catch {
    return { ok: false, problem: 'its claims are not JSON' };
  }
  const c = (typeof claims === 'object' && claims !== null ? claims : {}) as Record<string, unknown>;
  if (!isOrgId(c.org) || typeof c.collaborationId !== 'string' || typeof c.iat !== 'number' || typeof c.exp !== 'number') {
    return { ok: false, problem: 'its claims lack org, collaborationId, iat or exp' };
  }
  if (c.org !== expected.org) return { ok: false, problem: `it is "${c.org}"'s, not "${expected.org}"'s` };
  if (c.collaborationId !== expected.collaborationId) return { ok: false, problem: 'it is for another collaboration' };
  const at = Math.floor(now.getTime() / 1000);
  if (c.exp < at || c.iat > at + SKEW_SECONDS || c.exp - c.iat > ENROLMENT_TTL_SECONDS) return { ok: false, problem: 'it has expired (or is not yet valid); sign a fresh one' };
  return { ok: true, claims: c as unknown as SiteEnrolmentClaims };
}
