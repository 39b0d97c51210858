/**
 * POST /v1/login exchanges a username and password for a short-lived access token, throttled per
 * username and per client address (login-throttle.ts); GET /v1/me says who a token or site
 * credential speaks for.
 */
import { randomBytes } from 'node:crypto';
import { createRoute, z } from '@hono/zod-openapi';
import { eq } from 'drizzle-orm';
import { ErrorCode } from '../../common/errors.ts';
import { UserRole, users } from '../../db/schema.ts';
import type { Services } from '../deps.ts';
import { ApiError } from '../errors.ts';
import { bearer, createRouter, problemResponses } from '../router.ts';
import type { AppContext } from '../router.ts';
import { OrgIdSchema, TimestampSchema } from '../schemas.ts';
import { principalOf } from './authenticate.ts';
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
      const principal = { kind: 'user' as const, userId: user.id, username: user.username, orgId: user.orgId, role: user.role };
      const { token, expiresAt, expiresIn } = await services.tokens.issue(principal);
      services.logger.info('login', { userId: user.id, orgId: user.orgId, role: user.role });
      return c.json({
        accessToken: token,
        tokenType: 'Bearer' as const,
        expiresIn,
        expiresAt: expiresAt.toISOString(),
        user: { id: user.id, username: user.username, orgId: user.orgId, role: user.role },
      }, 200);
    })
    .openapi(me, (c) => c.json(principalOf(c), 200));
}
