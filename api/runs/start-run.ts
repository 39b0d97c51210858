/**
 * Checks a run request against the collaboration before anything starts: who takes part, that
 * each has a live site and published keys, and that the requester can receive the sealed total.
 * Mirrors the ring workflow's own input checks so a run that cannot work is refused with a 4xx
 * here, not failed later in Temporal.
 */
import { and, eq, inArray, isNull } from 'drizzle-orm';
import type { Database } from '../../db/client.ts';
import { KeyUse, collaborationMembers, orgKeys, sites } from '../../db/schema.ts';
import { ErrorCode } from '../../common/errors.ts';
import { isMember, loadCollaboration } from '../collaborations/access.ts';
import { ApiError, conflict, invalidField, notFound } from '../errors.ts';
import type { UserPrincipal } from '../router.ts';

/** The fewest participants a ring secure sum allows: with two, each learns the other's value. */
export const MIN_PARTICIPANTS = 3;

/** A run request that passed the checks. */
export interface CheckedRun {
  collaborationId: string;
  participants: string[];
  requester: string;
}

/**
 * Resolves and checks who takes part in a run `user` asks for: at least `minimum` (3 unless the
 * run holds no secure sum).
 *
 * @throws ApiError 404 (collaboration unknown or not the user's), 400 (requester among the
 *   participants), 409 (a participant without membership, live site or keys; too few participants).
 */
export async function checkRunRequest(db: Database, user: UserPrincipal, collaborationId: string, asked: string[] | undefined, minimum = MIN_PARTICIPANTS): Promise<CheckedRun> {
  const collab = await loadCollaboration(db, collaborationId);
  if (!(await isMember(db, collab.id, user.orgId))) throw notFound('collaboration', collaborationId);

  const members = new Set((await db.select({ orgId: collaborationMembers.orgId }).from(collaborationMembers)
    .where(eq(collaborationMembers.collaborationId, collab.id))).map((m) => m.orgId));
  const live = new Set((await db.select({ orgId: sites.orgId }).from(sites)
    .where(and(eq(sites.collaborationId, collab.id), isNull(sites.revokedAt)))).map((s) => s.orgId));

  if (asked?.includes(user.orgId)) {
    throw invalidField(`participants[${asked.indexOf(user.orgId)}]`, `is your own organisation "${user.orgId}", which receives the total: it must not also contribute, or it would learn the others' sum. Leave it out.`);
  }
  const participants = asked ?? [...live].filter((org) => org !== user.orgId).sort();
  participants.forEach((org, i) => {
    const field = `participants[${i}]`;
    if (!members.has(org)) throw conflict(`"${org}" is not a member of "${collab.name}". Ask a server admin to add it, or leave it out.`, field);
    if (!live.has(org)) throw conflict(`"${org}" has no live site in "${collab.name}". Its site operator registers one with POST /v1/sites.`, field);
  });
  if (participants.length < minimum) {
    const why = minimum >= MIN_PARTICIPANTS ? `a secure sum needs at least ${minimum}, or each would learn another's value` : `a run needs at least ${minimum}`;
    throw new ApiError(ErrorCode.Conflict, `Only ${participants.length} organisation(s) other than yours have a live site in "${collab.name}"; ${why}. Register more sites first.`);
  }

  const keyed = await db.select({ orgId: orgKeys.orgId, use: orgKeys.use }).from(orgKeys)
    .where(and(inArray(orgKeys.orgId, [...participants, user.orgId]), isNull(orgKeys.retiredAt)));
  const has = (org: string, use: KeyUse) => keyed.some((k) => k.orgId === org && k.use === use);
  participants.forEach((org, i) => {
    if (!has(org, KeyUse.Receive) || !has(org, KeyUse.Sign)) {
      throw conflict(`"${org}" has not published its public keys. Its site operator publishes them with POST /v1/organisations/${org}/keys.`, `participants[${i}]`);
    }
  });
  if (!has(user.orgId, KeyUse.Receive)) {
    throw conflict(`Your organisation "${user.orgId}" has no published receive key, so the total could not be sealed for it. Publish its keys with POST /v1/organisations/${user.orgId}/keys first.`);
  }
  return { collaborationId: collab.id, participants, requester: user.orgId };
}
