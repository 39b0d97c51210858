/**
 * /v1/collaborations: a named set of organisations whose sites may compute together. A server
 * admin creates them and adds members; members' users, auditors included (and the collaboration's
 * own sites) read them; a server admin reads all of them.
 */
import { createRoute, z } from '@hono/zod-openapi';
import { and, asc, eq, inArray } from 'drizzle-orm';
import { collaborationMembers, collaborations, organisations } from '../../db/schema.ts';
import { UserRole } from '../../common/roles.ts';
import type { Collaboration } from '../../db/schema.ts';
import { allow, principalOf, userOf } from '../auth/authenticate.ts';
import { recordAudit } from '../audit/record-audit.ts';
import type { Services } from '../deps.ts';
import { conflict, notFound } from '../errors.ts';
import { bearer, createRouter, problemResponses } from '../router.ts';
import { NameSchema, OrgIdSchema, TimestampSchema, iso, uuidParam } from '../schemas.ts';
import { canSeeCollaboration, loadCollaboration, visibleCollaborationIds } from './access.ts';

const CollaborationSchema = z.object({
  id: z.string(),
  name: z.string(),
  createdAt: TimestampSchema,
  members: z.array(z.object({ orgId: OrgIdSchema, joinedAt: TimestampSchema })),
}).openapi('Collaboration');

const CreateBody = z.strictObject({
  name: NameSchema,
  members: z.array(OrgIdSchema).max(100, { error: 'must list at most 100 organisations' })
    .refine((ids) => new Set(ids).size === ids.length, { error: 'must not list an organisation twice' }),
}).openapi('CreateCollaboration');

const Params = z.object({ collaborationId: uuidParam('collaborationId') });
const json = <T extends z.ZodType>(schema: T, description: string) => ({ description, content: { 'application/json': { schema } } });
const admins = allow({ users: [UserRole.Admin] });

const routes = {
  create: createRoute({
    method: 'post', path: '/', tags: ['collaborations'], security: bearer, middleware: [admins] as const,
    summary: 'Create a collaboration (server admin)',
    request: { body: { required: true, content: { 'application/json': { schema: CreateBody } } } },
    responses: { 201: json(CollaborationSchema, 'Created.'), ...problemResponses(400, 401, 403, 404, 409, 413, 415) },
  }),
  list: createRoute({
    method: 'get', path: '/', tags: ['collaborations'], security: bearer, middleware: [allow({ users: 'any', sites: true })] as const,
    summary: 'Collaborations your organisation takes part in (all, for a server admin)',
    responses: { 200: json(z.object({ collaborations: z.array(CollaborationSchema) }), 'Collaborations.'), ...problemResponses(401) },
  }),
  get: createRoute({
    method: 'get', path: '/{collaborationId}', tags: ['collaborations'], security: bearer, middleware: [allow({ users: 'any', sites: true })] as const,
    summary: 'One collaboration with its members', request: { params: Params },
    responses: { 200: json(CollaborationSchema, 'The collaboration.'), ...problemResponses(400, 401, 404) },
  }),
  addMember: createRoute({
    method: 'post', path: '/{collaborationId}/members', tags: ['collaborations'], security: bearer, middleware: [admins] as const,
    summary: 'Add an organisation to a collaboration (server admin)',
    request: { params: Params, body: { required: true, content: { 'application/json': { schema: z.strictObject({ orgId: OrgIdSchema }).openapi('AddMember') } } } },
    responses: { 201: json(CollaborationSchema, 'Added.'), ...problemResponses(400, 401, 403, 404, 409, 413, 415) },
  }),
};

/** The collaborations sub-app, mounted at /v1/collaborations. */
export function createCollaborationsApp(services: Services) {
  const { db } = services;

  const view = async (collab: Collaboration) => {
    const members = await db.select().from(collaborationMembers)
      .where(eq(collaborationMembers.collaborationId, collab.id)).orderBy(asc(collaborationMembers.orgId));
    return { id: collab.id, name: collab.name, createdAt: iso(collab.createdAt), members: members.map((m) => ({ orgId: m.orgId, joinedAt: iso(m.joinedAt) })) };
  };

  return createRouter()
    .openapi(routes.create, async (c) => {
      const admin = userOf(c);
      const body = c.req.valid('json');
      const known = body.members.length === 0 ? [] : await db.select({ id: organisations.id }).from(organisations).where(inArray(organisations.id, body.members));
      const missing = body.members.findIndex((id) => !known.some((k) => k.id === id));
      if (missing >= 0) throw notFound('organisation', body.members[missing]!);
      const at = services.now();
      const collab = await db.transaction(async (tx) => {
        const [named] = await tx.select({ id: collaborations.id }).from(collaborations).where(eq(collaborations.name, body.name)).limit(1);
        if (named) throw conflict(`A collaboration named "${body.name}" already exists (id ${named.id}). Choose another name, or add members to that one.`, 'name');
        const [row] = await tx.insert(collaborations).values({ name: body.name, createdBy: admin.userId, createdAt: at }).returning();
        if (body.members.length > 0) {
          await tx.insert(collaborationMembers).values(body.members.map((orgId) => ({ collaborationId: row!.id, orgId, joinedAt: at })));
        }
        await recordAudit(tx, { actor: admin, action: 'collaboration.create', target: { kind: 'collaboration', id: row!.id }, at, details: { name: body.name, members: body.members.join(',') } });
        return row!;
      });
      return c.json(await view(collab), 201);
    })
    .openapi(routes.list, async (c) => {
      const ids = await visibleCollaborationIds(db, principalOf(c));
      if (ids !== 'all' && ids.length === 0) return c.json({ collaborations: [] }, 200);
      const query = db.select().from(collaborations);
      const rows = await (ids === 'all' ? query : query.where(inArray(collaborations.id, ids))).orderBy(asc(collaborations.name)).limit(1000);
      return c.json({ collaborations: await Promise.all(rows.map(view)) }, 200);
    })
    .openapi(routes.get, async (c) => {
      const { collaborationId } = c.req.valid('param');
      const collab = await loadCollaboration(db, collaborationId);
      if (!(await canSeeCollaboration(db, principalOf(c), collab.id))) throw notFound('collaboration', collaborationId);
      return c.json(await view(collab), 200);
    })
    .openapi(routes.addMember, async (c) => {
      const admin = userOf(c);
      const { collaborationId } = c.req.valid('param');
      const { orgId } = c.req.valid('json');
      const collab = await loadCollaboration(db, collaborationId);
      const [org] = await db.select({ id: organisations.id }).from(organisations).where(eq(organisations.id, orgId)).limit(1);
      if (org === undefined) throw notFound('organisation', orgId);
      const at = services.now();
      await db.transaction(async (tx) => {
        const [member] = await tx.select().from(collaborationMembers)
          .where(and(eq(collaborationMembers.collaborationId, collab.id), eq(collaborationMembers.orgId, orgId))).limit(1);
        if (member) throw conflict(`"${orgId}" is already a member of "${collab.name}".`, 'orgId');
        await tx.insert(collaborationMembers).values({ collaborationId: collab.id, orgId, joinedAt: at });
        await recordAudit(tx, { actor: admin, action: 'collaboration.add-member', target: { kind: 'collaboration', id: collab.id }, at, details: { orgId } });
      });
      return c.json(await view(collab), 201);
    });
}
