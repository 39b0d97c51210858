/**
 * The API's own look at a run's signed manifest before it starts the workflow. The sites check it
 * again at every step and never take the API's word for it; this check is for the researcher:
 * a manifest that every site would refuse (signed by another organisation, for another
 * collaboration, with other participants or another chain than the request's) is refused here
 * with a 4xx that names the field, not failed minutes later at the first site.
 */
import { and, eq, isNull } from 'drizzle-orm';
import type { ChainSpec } from '../../common/chain.ts';
import { ErrorCode, isParleyError } from '../../common/errors.ts';
import type { RunManifest, RunPlan } from '../../common/run-manifest.ts';
import { canonicalJson, readRunManifest, verifyRunManifest } from '../../crypto/index.ts';
import type { Database } from '../../db/client.ts';
import { KeyUse, orgKeys } from '../../db/schema.ts';
import { ApiError, invalidField } from '../errors.ts';

/** What the request says the run is, after the API's own checks. */
export interface RequestedRun {
  collaborationId: string;
  requester: string;
  participants: string[];
  plan: { kind: 'chain'; chain: ChainSpec } | { kind: 'secure-sum'; modulus: string; dataset: string; image: { name: string; digest: string } };
}

/** The claims of `manifest`, read without verifying: to find participants before the checks. */
export function manifestClaims(manifest: string): RunManifest {
  try {
    return readRunManifest(manifest);
  } catch (err) {
    if (isParleyError(err)) throw invalidField('manifest', `${err.message} Sign the run with your organisation's key (parley run --key FILE does).`);
    throw err;
  }
}

/**
 * Verifies `manifest` against the requester organisation's current signing key and checks that
 * it says what the request says.
 * @throws ApiError 400 naming `manifest` and what differs.
 */
export async function checkManifest(db: Database, manifest: string, requested: RequestedRun, now: Date): Promise<RunManifest> {
  const claims = manifestClaims(manifest);
  const mismatch = (what: string) => invalidField('manifest', `${what}. Sign the manifest for exactly the run you start.`);
  if (claims.requester !== requested.requester) throw mismatch(`is signed as requested by "${claims.requester}", and you speak for "${requested.requester}"`);
  const [key] = await db.select({ jwk: orgKeys.jwk }).from(orgKeys)
    .where(and(eq(orgKeys.orgId, requested.requester), eq(orgKeys.use, KeyUse.Sign), isNull(orgKeys.retiredAt))).limit(1);
  if (!key) throw new ApiError(ErrorCode.Conflict, `Your organisation "${requested.requester}" has no published signing key, so no site could check who asked for this run. Publish its keys with POST /v1/organisations/${requested.requester}/keys first.`);
  try {
    await verifyRunManifest(manifest, key.jwk);
  } catch (err) {
    if (isParleyError(err, ErrorCode.ManifestInvalid)) throw invalidField('manifest', `does not verify with "${requested.requester}"'s published signing key. Sign it with the organisation's current key file.`);
    throw err;
  }
  if (claims.collaboration !== requested.collaborationId) throw mismatch(`is signed for collaboration "${claims.collaboration}", not "${requested.collaborationId}"`);
  if (canonicalJson(claims.participants) !== canonicalJson(requested.participants)) throw mismatch(`lists the participants ${claims.participants.join(', ')}, and the run would have ${requested.participants.join(', ')}`);
  if (!samePlan(claims.plan, requested.plan)) throw mismatch(requested.plan.kind === 'chain' ? 'signs another chain than the one in the request' : 'signs another secure sum than the one in the request (protocol, dataset, modulus or image)');
  if (Date.parse(claims.expiresAt) <= now.getTime()) throw mismatch(`expired at ${claims.expiresAt}`);
  return claims;
}

function samePlan(signed: RunPlan, requested: RequestedRun['plan']): boolean {
  if (requested.kind === 'chain') return signed.kind === 'chain' && canonicalJson(signed.chain) === canonicalJson(requested.chain);
  return signed.kind === 'secure-sum' && signed.protocol === 'ring' && signed.dataset === requested.dataset && signed.modulus === requested.modulus
    && signed.image.name === requested.image.name && signed.image.digest === requested.image.digest;
}
