/**
 * Which audit events an auditor reads: those of the collaborations its organisation belongs to
 * (the collaboration itself, its sites, its runs) and those about its own organisation and its
 * users. Another organisation's users, keys and studies stay out of its view; a server admin reads
 * everything.
 */
import { and, eq, inArray, or, sql } from 'drizzle-orm';
import type { SQL } from 'drizzle-orm';
import type { Executor } from '../../db/client.ts';
import { auditEvents, runs, sites, users } from '../../db/schema.ts';
import { seesEverything, visibleCollaborationIds } from '../collaborations/access.ts';
import type { UserPrincipal } from '../router.ts';

const about = (kind: string, ids: SQL | string[]) => and(eq(auditEvents.targetKind, kind), inArray(auditEvents.targetId, ids));

/** A condition on audit_events for what `user` may read; undefined when it reads everything. */
export async function auditScope(db: Executor, user: UserPrincipal): Promise<SQL | undefined> {
  if (seesEverything(user)) return undefined;
  const ownOrg = [
    about('organisation', [user.orgId]),
    about('user', sql`(select ${users.id}::text from ${users} where ${users.orgId} = ${user.orgId})`),
  ];
  const collabs = await visibleCollaborationIds(db, user);
  if (collabs === 'all' || collabs.length === 0) return or(...ownOrg);
  const list = sql.join(collabs.map((id) => sql`${id}::uuid`), sql`, `);
  return or(
    ...ownOrg,
    about('collaboration', collabs),
    about('site', sql`(select ${sites.id}::text from ${sites} where ${sites.collaborationId} in (${list}))`),
    about('run', sql`(select ${runs.id} from ${runs} where ${runs.collaborationId} in (${list}))`),
  );
}
