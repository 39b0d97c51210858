/**
 * Who may see a collaboration: a server admin (every one), users of a member organisation —
 * auditors included: an auditor audits the collaborations its organisation belongs to, not
 * everyone's — and the collaboration's own sites. Everyone else is told it does not exist (404),
 * so ids of other collaborations cannot be probed.
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

/** True when `principal` sees everything: a server admin. */
export function seesEverything(principal: Principal): boolean {
  return principal.kind === 'user' && principal.role === UserRole.Admin;
}

/** The ids of the collaborations `principal` may read, or 'all' for a server admin. */
export async function visibleCollaborationIds(db: Executor, principal: Principal): Promise<string[] | 'all'> {
  if (principal.kind === 'site') return [principal.collaborationId];
  if (seesEverything(principal)) return 'all';
  const rows = await db.select({ id: collaborationMembers.collaborationId }).from(collaborationMembers).where(eq(collaborationMembers.orgId, principal.orgId));
  return rows.map((r) => r.id);
}

/** True when `principal` may read the collaboration. */
export async function canSeeCollaboration(db: Executor, principal: Principal, collaborationId: string): Promise<boolean> {
  if (principal.kind === 'site') return principal.collaborationId === collaborationId;
  if (seesEverything(principal)) return true;
  return isMember(db, collaborationId, principal.orgId);
}
