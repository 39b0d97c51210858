/**
 * Signing and reading a run manifest (common/run-manifest.ts): a compact JWS (RFC 7515) by the
 * requester organisation's signing key, `typ` "parley+manifest", over the manifest's canonical
 * JSON. The requester's client signs it; every site verifies it against the requester's key as
 * the site pinned it, so neither the API nor Temporal can start, widen or alter a run.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7515#section-7.1 (compact serialisation)
 */
import { CompactSign, decodeProtectedHeader } from 'jose';
import type { JWK } from 'jose';
import { ErrorCode, ParleyError } from '../common/errors.ts';
import { isOrgId, isRunId } from '../common/ids.ts';
import { COLLABORATION_ID, MANIFEST_TYPE, MANIFEST_VERSION, type RunManifest, type SignedManifest } from '../common/run-manifest.ts';
import { canonicalJson } from './canonical-json.ts';
import { keyThumbprint, kindOf } from './jwk-kinds.ts';
import { verifyCompactJws, type SignAlg } from './node-jose.ts';

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** Signs `manifest` with the requester's private signing key. @throws ParleyError InvalidInput for a malformed manifest. */
export async function signRunManifest(manifest: RunManifest, signKey: JWK): Promise<SignedManifest> {
  const problem = manifestProblem(manifest);
  if (problem) throw new ParleyError(ErrorCode.InvalidInput, `The run manifest cannot be signed: it ${problem}.`, { runId: manifest.runId });
  return new CompactSign(encoder.encode(canonicalJson(manifest)))
    .setProtectedHeader({ alg: kindOf(signKey, 'sign').alg, kid: keyThumbprint(signKey), typ: MANIFEST_TYPE })
    .sign(signKey);
}

function invalid(why: string, details: Record<string, string | undefined> = {}): ParleyError {
  return new ParleyError(ErrorCode.ManifestInvalid, `The run's manifest was refused: ${why}.`, details);
}

/**
 * The manifest's claims WITHOUT checking the signature: for showing a run, and for finding whose
 * key to verify it with. Never take a decision on what this returns alone.
 * @throws ParleyError ManifestInvalid when it is not a manifest.
 */
export function readRunManifest(jws: unknown): RunManifest {
  if (typeof jws !== 'string' || jws.length > 1 << 20) throw invalid('the run carries no signed manifest (a compact JWS)');
  const parts = jws.split('.');
  if (parts.length !== 3) throw invalid('it is not a compact JWS');
  let header: ReturnType<typeof decodeProtectedHeader>;
  let claims: unknown;
  try {
    header = decodeProtectedHeader(jws);
    claims = JSON.parse(decoder.decode(Buffer.from(parts[1]!, 'base64url')));
  } catch {
    throw invalid('it is not a compact JWS over JSON');
  }
  if (header.typ !== MANIFEST_TYPE) throw invalid(`its typ is not "${MANIFEST_TYPE}"`);
  const problem = manifestProblem(claims);
  if (problem) throw invalid(`it ${problem}`);
  return claims as RunManifest;
}

/**
 * Verifies `jws` against the requester's public signing key and returns its claims. Over
 * synchronous node:crypto (node-jose.ts, as envelopes are): the same checks as jose's
 * compactVerify restricted to the key's algorithm (the header's alg must be it; crit and b64 are
 * refused), without waiting in WebCrypto's thread pool behind a site worker's file I/O.
 * @throws ParleyError ManifestInvalid (deliberately one code: a forger learns nothing from which check failed).
 */
export async function verifyRunManifest(jws: unknown, requesterSignKey: JWK): Promise<RunManifest> {
  const claimed = readRunManifest(jws);
  let payload: Uint8Array;
  try {
    const verified = verifyCompactJws(jws as string, requesterSignKey, kindOf(requesterSignKey, 'sign').alg as SignAlg);
    if (verified === undefined) throw new Error('signature');
    if (verified.header.kid !== keyThumbprint(requesterSignKey)) throw new Error('kid');
    payload = verified.payload;
  } catch {
    throw invalid(`its signature does not verify with "${claimed.requester}"'s signing key`, { runId: claimed.runId, requester: claimed.requester });
  }
  // The signed bytes are the canonical text: a payload that is not can't have come from signRunManifest.
  const text = decoder.decode(payload);
  if (text !== canonicalJson(JSON.parse(text))) throw invalid('its payload is not canonical JSON', { runId: claimed.runId });
  return claimed;
}

/** Why `value` is not a well-formed manifest, or undefined. Shapes only; sites check meaning. */
export function manifestProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'is not an object';
  const m = value as Record<string, unknown>;
  if (m.v !== MANIFEST_VERSION) return `is not of version ${MANIFEST_VERSION}`;
  if (!isRunId(m.runId)) return 'names no valid run id';
  if (typeof m.collaboration !== 'string' || !COLLABORATION_ID.test(m.collaboration)) return 'names no valid collaboration';
  if (!isOrgId(m.requester)) return 'names no valid requester';
  if (!Array.isArray(m.participants) || m.participants.length === 0 || !m.participants.every(isOrgId)) return 'lists no valid participants';
  if (new Set(m.participants).size !== m.participants.length) return 'lists a participant twice';
  if (m.participants.includes(m.requester)) return 'lists the requester as a participant';
  for (const key of ['createdAt', 'expiresAt'] as const) {
    if (typeof m[key] !== 'string' || Number.isNaN(Date.parse(m[key] as string))) return `has no valid ${key}`;
  }
  if (Date.parse(m.expiresAt as string) <= Date.parse(m.createdAt as string)) return 'expires before it was created';
  const plan = m.plan as Record<string, unknown> | null;
  if (typeof plan !== 'object' || plan === null || (plan.kind !== 'chain' && plan.kind !== 'secure-sum')) return 'has no plan (a chain or a secure sum)';
  return undefined;
}
