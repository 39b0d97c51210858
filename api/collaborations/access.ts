/**
 * Who may see a collaboration: a server admin or auditor, users of a member organisation, and
 * the collaboration's own sites. Everyone else is told it does not exist (404), so ids of other
 * collaborations cannot be probed.
 */
import { and, eq } from 'drizzle-orm';
import type { Executor } from '../../db/client.ts';
import { collaborationMembers, collaborations } from '../../db/schema.ts';
import { UserRole } from '../../common/roles.ts';
import type { Collaboration } from '../../db/schema.ts';
import { notFound } from '../errors.ts';
import type { Principal } from '../router.ts';

/** The collaboration, or a 404. */
export async function loadCollaboration(db: Executor, id: string): Promise<Collaboration> {
  const [collab] = await db.select().from(collaborations).where(eq(collaborations.id, id)).limit(1);
  if (collab === undefined) throw notFound('collaboration', id);
  return collab;
}

/** True when `orgId` is a member of the collaboration. */
export async function isMember(db: Executor, collaborationId: string, orgId: string): Promise<boolean> {
  const [row] = await db.select({ orgId: collaborationMembers.orgId }).from(collaborationMembers)
    .where(and(eq(collaborationMembers.collaborationId, collaborationId), eq(collaborationMembers.orgId, orgId))).limit(1);
  return row !== undefined;
}

/** True when `principal` may read the collaboration. */
export async function canSeeCollaboration(db: Executor, principal: Principal, collaborationId: string): Promise<boolean> {
  if (principal.kind === 'site') return principal.collaborationId === collaborationId;
  if (principal.role === UserRole.Admin || principal.role === UserRole.Auditor) return true;
  return isMember(db, collaborationId, principal.orgId);
}
