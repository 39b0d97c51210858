/**
 * GET /v1/audit: the append-only trail of every change, oldest first, paged by event id. A server
 * admin reads all of it; an auditor only what concerns its own organisation and the collaborations
 * it belongs to (audit-scope.ts).
 */
import { createRoute, z } from '@hono/zod-openapi';
import { and, asc, eq, gt } from 'drizzle-orm';
import type { SQL } from 'drizzle-orm';
import { ActorKind, auditEvents } from '../../db/schema.ts';
import { UserRole } from '../../common/roles.ts';
import type { AuditEvent } from '../../db/schema.ts';
import { allow, userOf } from '../auth/authenticate.ts';
import { auditScope } from './audit-scope.ts';
import type { Services } from '../deps.ts';
import { bearer, createRouter, problemResponses } from '../router.ts';
import { TimestampSchema, iso } from '../schemas.ts';

const AuditEventSchema = z.object({
  id: z.number().int(),
  at: TimestampSchema,
  actor: z.object({ kind: z.enum(Object.values(ActorKind)), id: z.string().nullable(), orgId: z.string().nullable() }),
  action: z.string(),
  target: z.object({ kind: z.string(), id: z.string() }),
  details: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])),
}).openapi('AuditEvent');

const whole = (max: number, what: string) => z.string()
  .regex(/^[0-9]{1,15}$/, { error: `must be a whole number (${what})` })
  .transform(Number)
  .refine((n) => n <= max, { error: `must be at most ${max}` });

const Query = z.strictObject({
  after: whole(Number.MAX_SAFE_INTEGER, 'the id of the last event you have').optional().openapi({ param: { name: 'after', in: 'query' }, type: 'string' }),
  limit: whole(1000, '1 to 1000').refine((n) => n >= 1, { error: 'must be at least 1' }).optional().openapi({ param: { name: 'limit', in: 'query' }, type: 'string' }),
  targetKind: z.string().regex(/^[a-z-]{1,32}$/, { error: 'must be a kind such as organisation, user, collaboration, site or run' }).optional().openapi({ param: { name: 'targetKind', in: 'query' } }),
  targetId: z.string().regex(/^[A-Za-z0-9._-]{1,128}$/, { error: 'must be an id' }).optional().openapi({ param: { name: 'targetId', in: 'query' } }),
});

const list = createRoute({
  method: 'get', path: '/', tags: ['audit'], security: bearer, middleware: [allow({ users: [UserRole.Auditor, UserRole.Admin] })] as const,
  summary: 'Audit events, oldest first (a server admin: all; an auditor: its organisation\'s and its collaborations\')', request: { query: Query },
  responses: {
    200: { description: 'A page of events; pass `next` as `after` for the next page.', content: { 'application/json': { schema: z.object({ events: z.array(AuditEventSchema), next: z.number().int().nullable() }) } } },
    ...problemResponses(400, 401, 403),
  },
});

function view(event: AuditEvent) {
  return {
    id: event.id, at: iso(event.at),
    actor: { kind: event.actorKind, id: event.actorId, orgId: event.actorOrg },
    action: event.action, target: { kind: event.targetKind, id: event.targetId }, details: event.details,
  };
}

/** The audit sub-app, mounted at /v1/audit. */
export function createAuditApp(services: Services) {
  return createRouter().openapi(list, async (c) => {
    const { after, limit = 100, targetKind, targetId } = c.req.valid('query');
    const where: SQL[] = [];
    if (after !== undefined) where.push(gt(auditEvents.id, after));
    if (targetKind !== undefined) where.push(eq(auditEvents.targetKind, targetKind));
    if (targetId !== undefined) where.push(eq(auditEvents.targetId, targetId));
    const scope = await auditScope(services.db, userOf(c));
    if (scope !== undefined) where.push(scope);
    const rows = await services.db.select().from(auditEvents).where(and(...where)).orderBy(asc(auditEvents.id)).limit(limit);
    const next = rows.length === limit ? rows[rows.length - 1]!.id : null;
    return c.json({ events: rows.map(view), next }, 200);
  });
}
