/**
 * /v1/sites: one site per organisation per collaboration, each with its own credential for its
 * worker. A site joins only with its organisation's own consent: the registration carries an
 * enrolment signed by the organisation's signing key (crypto/site-enrolment.ts), which only the
 * site's operator holds. The collaboration's membership, set by a server admin, is the invitation;
 * the signed enrolment is the acceptance. Its site operator (or a server admin passing the
 * organisation's enrolment on) registers it — the credential is in that response and nowhere
 * else, ever — and revokes it; a revoked credential stops working at once.
 */
import { createRoute, z } from '@hono/zod-openapi';
import { and, asc, eq, inArray, isNull, or } from 'drizzle-orm';
import { sites } from '../../db/schema.ts';
import { UserRole } from '../../common/roles.ts';
import type { Site } from '../../db/schema.ts';
import { allow, principalOf, userOf } from '../auth/authenticate.ts';
import { newSiteCredential } from '../auth/site-credentials.ts';
import { recordAudit } from '../audit/record-audit.ts';
import { canSeeCollaboration, isMember, loadCollaboration, seesEverything, visibleCollaborationIds } from '../collaborations/access.ts';
import type { Executor } from '../../db/client.ts';
import type { Services } from '../deps.ts';
import { ApiError, conflict, forbidden, notFound } from '../errors.ts';
import { ErrorCode } from '../../common/errors.ts';
import { verifySiteEnrolment } from '../../crypto/index.ts';
import { currentKeys, keyHistory } from '../organisations/keys.ts';
import { bearer, createRouter, problemResponses } from '../router.ts';
import type { Principal, UserPrincipal } from '../router.ts';
import { OrgIdSchema, TimestampSchema, UuidSchema, iso, uuidParam } from '../schemas.ts';

const SiteSchema = z.object({
  id: z.string(), collaborationId: z.string(), orgId: OrgIdSchema, createdAt: TimestampSchema, revokedAt: TimestampSchema.nullable(),
}).openapi('Site');

const RegisterBody = z.strictObject({
  collaborationId: UuidSchema,
  orgId: OrgIdSchema,
  enrolment: z.string().min(1, { error: 'must be the organisation\'s signed enrolment (a compact JWS)' }).max(4096, { error: 'must be at most 4096 characters' })
    .openapi({ description: 'The organisation\'s consent, signed with its signing key: `parley site register` makes it from the site\'s key file.' }),
}).openapi('RegisterSite');
const Registered = z.object({
  site: SiteSchema,
  credential: z.string().openapi({ description: 'The worker\'s bearer credential. Shown once: store it now.' }),
}).openapi('RegisteredSite');
const Params = z.object({ siteId: uuidParam('siteId') });
const json = <T extends z.ZodType>(schema: T, description: string) => ({ description, content: { 'application/json': { schema } } });
const operators = allow({ users: [UserRole.SiteOperator, UserRole.Admin] });

const routes = {
  register: createRoute({
    method: 'post', path: '/', tags: ['sites'], security: bearer, middleware: [operators] as const,
    summary: 'Register your organisation\'s site in a collaboration, with its signed enrolment; returns its credential once',
    request: { body: { required: true, content: { 'application/json': { schema: RegisterBody } } } },
    responses: { 201: json(Registered, 'Registered.'), ...problemResponses(400, 401, 403, 404, 409, 413, 415) },
  }),
  me: createRoute({
    method: 'get', path: '/me', tags: ['sites'], security: bearer, middleware: [allow({ users: 'any', sites: true })] as const,
    summary: 'The site a site credential belongs to',
    responses: { 200: json(SiteSchema, 'The site.'), ...problemResponses(401, 403) },
  }),
  list: createRoute({
    method: 'get', path: '/', tags: ['sites'], security: bearer, middleware: [allow({ users: 'any' })] as const,
    summary: 'Your organisation\'s sites (an auditor: also those of its collaborations; a server admin: all)',
    responses: { 200: json(z.object({ sites: z.array(SiteSchema) }), 'Sites.'), ...problemResponses(401, 403) },
  }),
  get: createRoute({
    method: 'get', path: '/{siteId}', tags: ['sites'], security: bearer, middleware: [allow({ users: 'any', sites: true })] as const,
    summary: 'One site', request: { params: Params },
    responses: { 200: json(SiteSchema, 'The site.'), ...problemResponses(400, 401, 404) },
  }),
  revoke: createRoute({
    method: 'post', path: '/{siteId}/revoke', tags: ['sites'], security: bearer, middleware: [operators] as const,
    summary: 'Revoke a site\'s credential (its organisation\'s site operator, or a server admin)', request: { params: Params },
    responses: { 200: json(SiteSchema, 'Revoked.'), ...problemResponses(400, 401, 403, 404, 409) },
  }),
};

function view(site: Site) {
  return { id: site.id, collaborationId: site.collaborationId, orgId: site.orgId, createdAt: iso(site.createdAt), revokedAt: iso(site.revokedAt) };
}

// A site credential sees its own site; a user their organisation's sites; an auditor also the
// sites of the collaborations its organisation belongs to; a server admin every site.
async function visible(db: Executor, principal: Principal, site: Site): Promise<boolean> {
  if (principal.kind === 'site') return principal.siteId === site.id;
  if (seesEverything(principal) || principal.orgId === site.orgId) return true;
  return principal.role === UserRole.Auditor && canSeeCollaboration(db, principal, site.collaborationId);
}

// A site operator acts only for its own organisation.
function mayOperate(user: UserPrincipal, orgId: string): void {
  if (user.role !== UserRole.Admin && user.orgId !== orgId) {
    throw forbidden(`You operate "${user.orgId}"; only a site operator of "${orgId}" (or a server admin) may manage its sites.`);
  }
}

// The organisation's consent, checked against its current published signing key.
async function checkEnrolment(db: Executor, enrolment: string, expected: { org: string; collaborationId: string }, now: Date): Promise<void> {
  const signKey = currentKeys(await keyHistory(db, expected.org)).sign;
  if (signKey === null) {
    throw conflict(`"${expected.org}" has no published signing key, so it cannot consent to enrol a site. Its site operator publishes its keys with \`parley site init\`.`, 'orgId');
  }
  const verdict = await verifySiteEnrolment(enrolment, signKey.jwk, expected, now);
  if (!verdict.ok) {
    throw new ApiError(ErrorCode.Forbidden, `"${expected.org}" has not consented to this site: its enrolment ${verdict.problem}. A site joins only with its organisation's enrolment, signed with its key file: its site operator runs \`parley site register --collab … --org ${expected.org}\`.`, { errors: [{ in: 'body', field: 'enrolment', message: verdict.problem }] });
  }
}

/** The sites sub-app, mounted at /v1/sites. */
export function createSitesApp(services: Services) {
  const { db } = services;
  const load = async (siteId: string) => {
    const [site] = await db.select().from(sites).where(eq(sites.id, siteId)).limit(1);
    if (site === undefined) throw notFound('site', siteId);
    return site;
  };

  return createRouter()
    .openapi(routes.register, async (c) => {
      const user = userOf(c);
      const { collaborationId, orgId, enrolment } = c.req.valid('json');
      mayOperate(user, orgId);
      const collab = await loadCollaboration(db, collaborationId);
      if (!(await isMember(db, collab.id, orgId))) {
        throw conflict(`"${orgId}" is not a member of collaboration "${collab.name}". Ask a server admin to add it first.`, 'orgId');
      }
      await checkEnrolment(db, enrolment, { org: orgId, collaborationId: collab.id }, services.now());
      const { credential, hash } = newSiteCredential();
      const at = services.now();
      const site = await db.transaction(async (tx) => {
        const [live] = await tx.select({ id: sites.id }).from(sites)
          .where(and(eq(sites.collaborationId, collab.id), eq(sites.orgId, orgId), isNull(sites.revokedAt))).limit(1);
        if (live) throw conflict(`"${orgId}" already has a site in "${collab.name}" (id ${live.id}). Revoke it first to register a new one.`, 'orgId');
        const [row] = await tx.insert(sites).values({ collaborationId: collab.id, orgId, credentialHash: hash, enrolment, createdAt: at }).returning();
        await recordAudit(tx, { actor: user, action: 'site.register', target: { kind: 'site', id: row!.id }, at, details: { orgId, collaborationId: collab.id } });
        return row!;
      });
      c.header('cache-control', 'no-store');
      return c.json({ site: view(site), credential }, 201);
    })
    .openapi(routes.me, async (c) => {
      const principal = principalOf(c);
      if (principal.kind !== 'site') throw forbidden('GET /v1/sites/me is for a site credential; as a user, list sites with GET /v1/sites.');
      return c.json(view(await load(principal.siteId)), 200);
    })
    .openapi(routes.list, async (c) => {
      const user = userOf(c);
      const query = db.select().from(sites);
      const collabs = user.role === UserRole.Auditor ? await visibleCollaborationIds(db, user) : [];
      const mine = collabs === 'all' || collabs.length === 0 ? eq(sites.orgId, user.orgId) : or(eq(sites.orgId, user.orgId), inArray(sites.collaborationId, collabs));
      const rows = await (seesEverything(user) ? query : query.where(mine)).orderBy(asc(sites.createdAt)).limit(1000);
      return c.json({ sites: rows.map(view) }, 200);
    })
    .openapi(routes.get, async (c) => {
      const { siteId } = c.req.valid('param');
      const site = await load(siteId);
      if (!(await visible(db, principalOf(c), site))) throw notFound('site', siteId);
      return c.json(view(site), 200);
    })
    .openapi(routes.revoke, async (c) => {
      const user = userOf(c);
      const { siteId } = c.req.valid('param');
      const site = await load(siteId);
      if (!(await visible(db, user, site))) throw notFound('site', siteId);
      mayOperate(user, site.orgId);
      if (site.revokedAt !== null) throw conflict(`Site ${siteId} was already revoked at ${iso(site.revokedAt)}.`);
      const at = services.now();
      const revoked = await db.transaction(async (tx) => {
        const [row] = await tx.update(sites).set({ revokedAt: at }).where(and(eq(sites.id, siteId), isNull(sites.revokedAt))).returning();
        if (row === undefined) throw conflict(`Site ${siteId} was already revoked.`);
        await recordAudit(tx, { actor: user, action: 'site.revoke', target: { kind: 'site', id: siteId }, at, details: { orgId: site.orgId, collaborationId: site.collaborationId } });
        return row;
      });
      return c.json(view(revoked), 200);
    });
}
