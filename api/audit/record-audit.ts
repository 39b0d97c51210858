/**
 * Writes one audit event. Called inside the same transaction as the change it records, so a
 * change and its trace commit or roll back together. Details hold ids and public metadata only.
 */
import type { Executor } from '../../db/client.ts';
import { ActorKind, auditEvents } from '../../db/schema.ts';
import type { Principal } from '../router.ts';

/** Who acted: a principal, or the system (bootstrap, status observed on a workflow). */
export type Actor = Principal | 'system';

/** One change to record. */
export interface AuditEntry {
  actor: Actor;
  /** `<resource>.<verb>`, e.g. `organisation.create`. */
  action: string;
  target: { kind: string; id: string };
  details?: Record<string, string | number | boolean | null>;
  at: Date;
}

/** Appends an audit event through `tx`. */
export async function recordAudit(tx: Executor, entry: AuditEntry): Promise<void> {
  const { actor } = entry;
  await tx.insert(auditEvents).values({
    at: entry.at,
    actorKind: actor === 'system' ? ActorKind.System : actor.kind === 'user' ? ActorKind.User : ActorKind.Site,
    actorId: actor === 'system' ? null : actor.kind === 'user' ? actor.userId : actor.siteId,
    actorOrg: actor === 'system' ? null : actor.orgId,
    action: entry.action,
    targetKind: entry.target.kind,
    targetId: entry.target.id,
    details: entry.details ?? {},
  });
}
