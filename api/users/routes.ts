/**
 * /v1/users: a server admin creates users (a role within one organisation), disables and enables
 * them, and revokes all of a user's tokens; a user sees the users of their own organisation, a
 * server admin all of them. Passwords go in once, are hashed with scrypt, and never come back out.
 */
import { createRoute, z } from '@hono/zod-openapi';
import { asc, eq, sql } from 'drizzle-orm';
import { organisations, users } from '../../db/schema.ts';
import { UserRole } from '../../common/roles.ts';
import type { User } from '../../db/schema.ts';
import { allow, userOf } from '../auth/authenticate.ts';
import { hashPassword } from '../auth/password.ts';
import { UsernameSchema } from '../auth/routes.ts';
import { recordAudit } from '../audit/record-audit.ts';
import type { Services } from '../deps.ts';
import { conflict, notFound } from '../errors.ts';
import { bearer, createRouter, problemResponses } from '../router.ts';
import type { UserPrincipal } from '../router.ts';
import { OrgIdSchema, TimestampSchema, iso, uuidParam } from '../schemas.ts';

const RoleSchema = z.enum(Object.values(UserRole));

const UserSchema = z.object({
  id: z.string(), username: z.string(), orgId: OrgIdSchema, role: RoleSchema, disabled: z.boolean(), createdAt: TimestampSchema,
}).openapi('User');

const UpdateBody = z.strictObject({
  disabled: z.boolean().openapi({ description: 'true: the user cannot log in and its tokens stop working at once; false: it may log in again (old tokens stay dead).' }),
}).openapi('UpdateUser');
const UserParams = z.object({ userId: uuidParam('userId') });
const admins = allow({ users: [UserRole.Admin] });

const CreateBody = z.strictObject({
  username: UsernameSchema,
  password: z.string()
    .min(12, { error: 'must be at least 12 characters; a passphrase of several words is easiest' })
    .max(1024, { error: 'must be at most 1024 characters' }),
  orgId: OrgIdSchema,
  role: RoleSchema,
}).openapi('CreateUser');

const json = <T extends z.ZodType>(schema: T, description: string) => ({ description, content: { 'application/json': { schema } } });
const anyUser = allow({ users: 'any' });

const routes = {
  create: createRoute({
    method: 'post', path: '/', tags: ['users'], security: bearer, middleware: [admins] as const,
    summary: 'Create a user (server admin)',
    request: { body: { required: true, content: { 'application/json': { schema: CreateBody } } } },
    responses: { 201: json(UserSchema, 'Created.'), ...problemResponses(400, 401, 403, 404, 409, 413, 415) },
  }),
  list: createRoute({
    method: 'get', path: '/', tags: ['users'], security: bearer, middleware: [anyUser] as const,
    summary: 'Users of your organisation (all users for a server admin)',
    responses: { 200: json(z.object({ users: z.array(UserSchema) }), 'Users.'), ...problemResponses(401, 403) },
  }),
  get: createRoute({
    method: 'get', path: '/{userId}', tags: ['users'], security: bearer, middleware: [anyUser] as const,
    summary: 'One user of your organisation', request: { params: UserParams },
    responses: { 200: json(UserSchema, 'The user.'), ...problemResponses(400, 401, 403, 404) },
  }),
  update: createRoute({
    method: 'patch', path: '/{userId}', tags: ['users'], security: bearer, middleware: [admins] as const,
    summary: 'Disable or enable a user (server admin)',
    request: { params: UserParams, body: { required: true, content: { 'application/json': { schema: UpdateBody } } } },
    responses: { 200: json(UserSchema, 'Updated.'), ...problemResponses(400, 401, 403, 404, 409, 413, 415) },
  }),
  revokeTokens: createRoute({
    method: 'post', path: '/{userId}/revoke-tokens', tags: ['users'], security: bearer, middleware: [admins] as const,
    summary: 'Revoke every access token of a user; it logs in again for a new one (server admin)', request: { params: UserParams },
    responses: { 200: json(UserSchema, 'Revoked.'), ...problemResponses(400, 401, 403, 404) },
  }),
};

function view(user: User) {
  return { id: user.id, username: user.username, orgId: user.orgId, role: user.role, disabled: user.disabledAt !== null, createdAt: iso(user.createdAt) };
}

// Server admins see everyone; anyone else only their own organisation.
function visible(caller: UserPrincipal, user: User): boolean {
  return caller.role === UserRole.Admin || caller.orgId === user.orgId;
}

/** The users sub-app, mounted at /v1/users. */
export function createUsersApp(services: Services) {
  const { db } = services;
  return createRouter()
    .openapi(routes.create, async (c) => {
      const admin = userOf(c);
      const body = c.req.valid('json');
      const [org] = await db.select().from(organisations).where(eq(organisations.id, body.orgId)).limit(1);
      if (org === undefined) throw notFound('organisation', body.orgId);
      const [taken] = await db.select({ id: users.id }).from(users).where(eq(users.username, body.username)).limit(1);
      if (taken) throw conflict(`The username "${body.username}" is taken. Choose another username.`, 'username');
      const passwordHash = await hashPassword(body.password, services.passwordCost);
      const at = services.now();
      const user = await db.transaction(async (tx) => {
        const [row] = await tx.insert(users).values({ username: body.username, orgId: body.orgId, role: body.role, passwordHash, createdAt: at }).returning();
        await recordAudit(tx, { actor: admin, action: 'user.create', target: { kind: 'user', id: row!.id }, at, details: { username: body.username, orgId: body.orgId, role: body.role } });
        return row!;
      });
      return c.json(view(user), 201);
    })
    .openapi(routes.list, async (c) => {
      const caller = userOf(c);
      const query = db.select().from(users);
      const rows = await (caller.role === UserRole.Admin ? query : query.where(eq(users.orgId, caller.orgId))).orderBy(asc(users.username)).limit(1000);
      return c.json({ users: rows.map(view) }, 200);
    })
    .openapi(routes.get, async (c) => {
      const { userId } = c.req.valid('param');
      const [user] = await db.select().from(users).where(eq(users.id, userId)).limit(1);
      if (user === undefined || !visible(userOf(c), user)) throw notFound('user', userId);
      return c.json(view(user), 200);
    })
    .openapi(routes.update, async (c) => {
      const admin = userOf(c);
      const { userId } = c.req.valid('param');
      const { disabled } = c.req.valid('json');
      // Disabling oneself would lock the last admin out as easily as anyone else.
      if (disabled && userId === admin.userId) throw conflict('You cannot disable yourself. Ask another server admin, or log out with POST /v1/logout.', 'disabled');
      const at = services.now();
      const user = await db.transaction(async (tx) => {
        // Disabling also raises the token generation, so enabling later brings no old token back.
        const change = disabled ? { disabledAt: at, tokenGeneration: sql`${users.tokenGeneration} + 1` } : { disabledAt: null };
        const [row] = await tx.update(users).set(change).where(eq(users.id, userId)).returning();
        if (row === undefined) throw notFound('user', userId);
        await recordAudit(tx, { actor: admin, action: disabled ? 'user.disable' : 'user.enable', target: { kind: 'user', id: userId }, at, details: { username: row.username } });
        return row;
      });
      services.logger.info(disabled ? 'user disabled' : 'user enabled', { userId });
      return c.json(view(user), 200);
    })
    .openapi(routes.revokeTokens, async (c) => {
      const admin = userOf(c);
      const { userId } = c.req.valid('param');
      const at = services.now();
      const user = await db.transaction(async (tx) => {
        const [row] = await tx.update(users).set({ tokenGeneration: sql`${users.tokenGeneration} + 1` }).where(eq(users.id, userId)).returning();
        if (row === undefined) throw notFound('user', userId);
        await recordAudit(tx, { actor: admin, action: 'user.revoke-tokens', target: { kind: 'user', id: userId }, at, details: { username: row.username } });
        return row;
      });
      return c.json(view(user), 200);
    });
}
