/**
 * POST /v1/login exchanges a username and password for a short-lived access token, throttled per
 * username and per client address (login-throttle.ts); POST /v1/logout revokes the token it is
 * sent with; GET /v1/me says who a token or site credential speaks for.
 */
import { randomBytes } from 'node:crypto';
import { createRoute, z } from '@hono/zod-openapi';
import { eq } from 'drizzle-orm';
import { ErrorCode } from '../../common/errors.ts';
import { users } from '../../db/schema.ts';
import { UserRole } from '../../common/roles.ts';
import type { Services } from '../deps.ts';
import { ApiError } from '../errors.ts';
import { bearer, createRouter, problemResponses } from '../router.ts';
import type { AppContext } from '../router.ts';
import { OrgIdSchema, TimestampSchema } from '../schemas.ts';
import { principalOf, userOf } from './authenticate.ts';
import { pruneRevokedTokens, revokeToken } from './token-state.ts';
import { recordAudit } from '../audit/record-audit.ts';
import { hashPassword, verifyPassword } from './password.ts';

export const UsernameSchema = z.string()
  .regex(/^[a-z0-9][a-z0-9._@-]{0,63}$/, { error: 'must be 1–64 lowercase letters, digits or . _ @ -, starting with a letter or digit' })
  .openapi({ example: 'alice' });

const LoginBody = z.strictObject({
  username: UsernameSchema,
  password: z.string().min(1, { error: 'must not be empty' }).max(1024, { error: 'must be at most 1024 characters' }),
}).openapi('LoginRequest');

const LoginResponse = z.object({
  accessToken: z.string(),
  tokenType: z.literal('Bearer'),
  expiresIn: z.number().int().openapi({ description: 'Seconds until the token expires.' }),
  expiresAt: TimestampSchema,
  user: z.object({ id: z.string(), username: z.string(), orgId: OrgIdSchema, role: z.enum(Object.values(UserRole)) }),
}).openapi('LoginResponse');

const MeResponse = z.union([
  z.object({ kind: z.literal('user'), userId: z.string(), username: z.string(), orgId: OrgIdSchema, role: z.enum(Object.values(UserRole)) }),
  z.object({ kind: z.literal('site'), siteId: z.string(), orgId: OrgIdSchema, collaborationId: z.string() }),
]).openapi('Me');

const login = createRoute({
  method: 'post', path: '/login', tags: ['auth'],
  summary: 'Log in: returns a short-lived access token',
  request: { body: { required: true, content: { 'application/json': { schema: LoginBody } } } },
  responses: {
    200: { description: 'Logged in.', content: { 'application/json': { schema: LoginResponse } } },
    ...problemResponses(400, 401, 413, 415, 429),
  },
});

const logout = createRoute({
  method: 'post', path: '/logout', tags: ['auth'], security: bearer,
  summary: 'Log out: the access token sent with this request stops working at once',
  responses: { 204: { description: 'Logged out.' }, ...problemResponses(401, 403) },
});

const me = createRoute({
  method: 'get', path: '/me', tags: ['auth'], security: bearer,
  summary: 'Who the token or site credential speaks for',
  responses: { 200: { description: 'The caller.', content: { 'application/json': { schema: MeResponse } } }, ...problemResponses(401) },
});

function clientAddress(c: AppContext): string {
  return c.env?.incoming?.socket?.remoteAddress ?? 'unknown';
}

/** The auth sub-app, mounted at /v1. */
export function createAuthApp(services: Services) {
  // Verifying against a throwaway hash when the user does not exist costs the same time as a
  // real check, so response times do not reveal which usernames exist.
  let decoy: Promise<string> | undefined;
  const decoyHash = () => (decoy ??= hashPassword(randomBytes(16).toString('hex'), services.passwordCost));

  return createRouter()
    .openapi(login, async (c) => {
      const { username, password } = c.req.valid('json');
      const address = clientAddress(c);
      const verdict = services.loginThrottle.attempt(username, address, services.now());
      if (!verdict.allowed) {
        services.logger.warn('login throttled', { by: verdict.by });
        const whose = verdict.by === 'username' ? 'for this username' : 'from your address';
        throw new ApiError(ErrorCode.RateLimited, `Too many login attempts ${whose}. Wait ${verdict.retryAfterSeconds} seconds, then try again.`, { retryAfterSeconds: verdict.retryAfterSeconds });
      }
      const [user] = await services.db.select().from(users).where(eq(users.username, username)).limit(1);
      const ok = await verifyPassword(password, user?.passwordHash ?? await decoyHash());
      if (user === undefined || !ok) {
        services.logger.warn('login refused', { reason: 'bad credentials' });
        throw new ApiError(ErrorCode.Unauthenticated, 'The username or password is wrong. Check both and try again; repeated failures are throttled.');
      }
      services.loginThrottle.succeeded(username, address);
      // Said only to whoever knows the password: to anyone else a disabled user looks like any other.
      if (user.disabledAt !== null) {
        services.logger.warn('login refused', { reason: 'disabled', userId: user.id });
        throw new ApiError(ErrorCode.Unauthenticated, 'This user is disabled and cannot log in. Ask a server admin to enable it again if that is a mistake.');
      }
      const principal = { kind: 'user' as const, userId: user.id, username: user.username, orgId: user.orgId, role: user.role };
      const { token, expiresAt, expiresIn } = await services.tokens.issue(principal, user.tokenGeneration);
      services.logger.info('login', { userId: user.id, orgId: user.orgId, role: user.role });
      return c.json({
        accessToken: token,
        tokenType: 'Bearer' as const,
        expiresIn,
        expiresAt: expiresAt.toISOString(),
        user: { id: user.id, username: user.username, orgId: user.orgId, role: user.role },
      }, 200);
    })
    .openapi(logout, async (c) => {
      const user = userOf(c);
      const token = c.get('token');
      if (token === undefined) throw new ApiError(ErrorCode.Forbidden, 'Only a user\'s access token logs out; a site credential is revoked with POST /v1/sites/{siteId}/revoke.');
      const at = services.now();
      await services.db.transaction(async (tx) => {
        await pruneRevokedTokens(tx, at);
        await revokeToken(tx, { tokenId: token.id, expiresAt: token.expiresAt, userId: user.userId }, at);
        await recordAudit(tx, { actor: user, action: 'user.logout', target: { kind: 'user', id: user.userId }, at });
      });
      services.logger.info('logout', { userId: user.userId });
      return c.body(null, 204);
    })
    .openapi(me, (c) => c.json(principalOf(c), 200));
}
