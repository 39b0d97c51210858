/**
 * /v1/organisations: a server admin registers organisations (optionally with their first keys);
 * anyone authenticated — users and site workers alike — reads them and their public keys; an
 * organisation's site operator rotates its keys.
 */
import { createRoute, z } from '@hono/zod-openapi';
import { asc, eq } from 'drizzle-orm';
import { organisations } from '../../db/schema.ts';
import { UserRole } from '../../common/roles.ts';
import type { Organisation } from '../../db/schema.ts';
import { allow, userOf } from '../auth/authenticate.ts';
import { recordAudit } from '../audit/record-audit.ts';
import type { Services } from '../deps.ts';
import { conflict, forbidden, notFound } from '../errors.ts';
import { bearer, createRouter, problemResponses } from '../router.ts';
import { NameSchema, OrgIdSchema, TimestampSchema, iso } from '../schemas.ts';
import { KeyRecordSchema, KeySetSchema, PublishedKeySchema, checkKeySet, currentKeys, keyHistory, keyRecord, publishKeys } from './keys.ts';

const OrganisationSchema = z.object({
  id: OrgIdSchema,
  name: z.string(),
  createdAt: TimestampSchema,
  keys: z.object({ receive: PublishedKeySchema.nullable(), sign: PublishedKeySchema.nullable() }),
}).openapi('Organisation');

const CreateBody = z.strictObject({ id: OrgIdSchema, name: NameSchema, keys: KeySetSchema.optional() }).openapi('CreateOrganisation');
const OrgParams = z.object({ orgId: OrgIdSchema.openapi({ param: { name: 'orgId', in: 'path' } }) });
const ThumbprintParams = OrgParams.extend({
  thumbprint: z.string().regex(/^[A-Za-z0-9_-]{43}$/, { error: 'must be an RFC 7638 SHA-256 thumbprint (43 base64url characters)' })
    .openapi({ param: { name: 'thumbprint', in: 'path' } }),
});
const json = <T extends z.ZodType>(schema: T, description: string) => ({ description, content: { 'application/json': { schema } } });
const readers = allow({ users: 'any', sites: true });

const routes = {
  create: createRoute({
    method: 'post', path: '/', tags: ['organisations'], security: bearer, middleware: [allow({ users: [UserRole.Admin] })] as const,
    summary: 'Register an organisation (server admin)',
    request: { body: { required: true, content: { 'application/json': { schema: CreateBody } } } },
    responses: { 201: json(OrganisationSchema, 'Registered.'), ...problemResponses(400, 401, 403, 409, 413, 415) },
  }),
  list: createRoute({
    method: 'get', path: '/', tags: ['organisations'], security: bearer, middleware: [readers] as const,
    summary: 'List organisations',
    responses: { 200: json(z.object({ organisations: z.array(OrganisationSchema) }), 'All organisations.'), ...problemResponses(401) },
  }),
  get: createRoute({
    method: 'get', path: '/{orgId}', tags: ['organisations'], security: bearer, middleware: [readers] as const,
    summary: 'An organisation and its current public keys', request: { params: OrgParams },
    responses: { 200: json(OrganisationSchema, 'The organisation.'), ...problemResponses(400, 401, 404) },
  }),
  keys: createRoute({
    method: 'get', path: '/{orgId}/keys', tags: ['organisations'], security: bearer, middleware: [readers] as const,
    summary: 'Current public keys, in the form crypto/ parseOrgPublicKeys reads', request: { params: OrgParams },
    responses: {
      200: json(z.object({ org: OrgIdSchema, receive: PublishedKeySchema, sign: PublishedKeySchema }).openapi('OrgPublicKeys'), 'Current keys.'),
      ...problemResponses(400, 401, 404),
    },
  }),
  history: createRoute({
    method: 'get', path: '/{orgId}/keys/history', tags: ['organisations'], security: bearer, middleware: [readers] as const,
    summary: 'Every key the organisation ever published, newest first', request: { params: OrgParams },
    responses: { 200: json(z.object({ org: OrgIdSchema, keys: z.array(KeyRecordSchema) }), 'Key history.'), ...problemResponses(400, 401, 404) },
  }),
  byThumbprint: createRoute({
    method: 'get', path: '/{orgId}/keys/{thumbprint}', tags: ['organisations'], security: bearer, middleware: [readers] as const,
    summary: 'One key, current or retired, by thumbprint (to verify old envelopes)', request: { params: ThumbprintParams },
    responses: { 200: json(KeyRecordSchema, 'The key.'), ...problemResponses(400, 401, 404) },
  }),
  rotate: createRoute({
    method: 'post', path: '/{orgId}/keys', tags: ['organisations'], security: bearer, middleware: [allow({ users: [UserRole.SiteOperator] })] as const,
    summary: 'Publish new keys for the organisation (its site operator); replaced keys are retired, not deleted',
    request: { params: OrgParams, body: { required: true, content: { 'application/json': { schema: KeySetSchema } } } },
    responses: { 200: json(OrganisationSchema, 'Keys published.'), ...problemResponses(400, 401, 403, 404, 409, 413, 415) },
  }),
};

/** The organisations sub-app, mounted at /v1/organisations. */
export function createOrganisationsApp(services: Services) {
  const { db } = services;

  const load = async (orgId: string) => {
    const [org] = await db.select().from(organisations).where(eq(organisations.id, orgId)).limit(1);
    if (org === undefined) throw notFound('organisation', orgId);
    return org;
  };
  const view = async (org: Organisation) => ({
    id: org.id, name: org.name, createdAt: iso(org.createdAt), keys: currentKeys(await keyHistory(db, org.id)),
  });

  return createRouter()
    .openapi(routes.create, async (c) => {
      const user = userOf(c);
      const body = c.req.valid('json');
      const keys = body.keys && checkKeySet(body.id, body.keys, 'keys.');
      const at = services.now();
      const org = await db.transaction(async (tx) => {
        const [clash] = await tx.select().from(organisations).where(eq(organisations.id, body.id)).limit(1);
        if (clash) throw conflict(`An organisation with id "${body.id}" already exists. Choose another id.`, 'id');
        const [named] = await tx.select().from(organisations).where(eq(organisations.name, body.name)).limit(1);
        if (named) throw conflict(`An organisation named "${body.name}" already exists (id "${named.id}"). Choose another name.`, 'name');
        const [row] = await tx.insert(organisations).values({ id: body.id, name: body.name, createdAt: at }).returning();
        if (keys) await publishKeys(tx, body.id, keys, at, 'keys.');
        await recordAudit(tx, {
          actor: user, action: 'organisation.create', target: { kind: 'organisation', id: body.id }, at,
          details: { receive: keys?.receive.thumbprint ?? null, sign: keys?.sign.thumbprint ?? null },
        });
        return row!;
      });
      return c.json(await view(org), 201);
    })
    .openapi(routes.list, async (c) => {
      const rows = await db.select().from(organisations).orderBy(asc(organisations.id)).limit(1000);
      return c.json({ organisations: await Promise.all(rows.map(view)) }, 200);
    })
    .openapi(routes.get, async (c) => c.json(await view(await load(c.req.valid('param').orgId)), 200))
    .openapi(routes.keys, async (c) => {
      const { orgId } = c.req.valid('param');
      await load(orgId);
      const { receive, sign } = currentKeys(await keyHistory(db, orgId));
      if (receive === null || sign === null) throw notFound('published key set for organisation', orgId);
      return c.json({ org: orgId, receive, sign }, 200);
    })
    .openapi(routes.history, async (c) => {
      const { orgId } = c.req.valid('param');
      await load(orgId);
      return c.json({ org: orgId, keys: (await keyHistory(db, orgId)).map(keyRecord) }, 200);
    })
    .openapi(routes.byThumbprint, async (c) => {
      const { orgId, thumbprint } = c.req.valid('param');
      const key = (await keyHistory(db, orgId)).find((k) => k.thumbprint === thumbprint);
      if (key === undefined) throw notFound('key', `${orgId}/${thumbprint}`);
      return c.json(keyRecord(key), 200);
    })
    .openapi(routes.rotate, async (c) => {
      const user = userOf(c);
      const { orgId } = c.req.valid('param');
      if (user.orgId !== orgId) throw forbidden(`You operate "${user.orgId}"; only a site operator of "${orgId}" may publish its keys.`);
      const keys = checkKeySet(orgId, c.req.valid('json'), '');
      const org = await load(orgId);
      const at = services.now();
      await db.transaction(async (tx) => {
        const changed = await publishKeys(tx, orgId, keys, at, '');
        if (changed.length === 0) throw conflict(`These are already the current keys of "${orgId}"; nothing changed. Make a new key pair to rotate.`);
        await recordAudit(tx, {
          actor: user, action: 'organisation.keys-rotate', target: { kind: 'organisation', id: orgId }, at,
          details: { rotated: changed.join(','), receive: keys.receive.thumbprint, sign: keys.sign.thumbprint },
        });
      });
      return c.json(await view(org), 200);
    });
}
