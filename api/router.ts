/**
 * The pieces every sub-app shares: the request environment (who is calling, the raw connection),
 * a router factory wired to the one validation hook, and the OpenAPI fragments for errors.
 */
import { OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { UserRole } from '../common/roles.ts';
import { validationHook } from './problem.ts';
import { ProblemSchema } from './schemas.ts';

/** A logged-in person, from a verified access token. */
export interface UserPrincipal {
  kind: 'user';
  userId: string;
  username: string;
  orgId: string;
  role: UserRole;
}

/** A site worker, from a live site credential. */
export interface SitePrincipal {
  kind: 'site';
  siteId: string;
  orgId: string;
  collaborationId: string;
}

/** Whoever made the request. */
export type Principal = UserPrincipal | SitePrincipal;

/** Hono environment of every Parley route. */
export interface AppEnv {
  /** `token`: the access token's id and expiry, for logout (unset for a site credential). */
  Variables: { principal: Principal | undefined; token?: { id: string; expiresAt: Date } };
  /** @hono/node-server passes the Node request; absent under `app.request()` in tests. */
  Bindings: { incoming?: { socket?: { remoteAddress?: string } } };
}

/** A Hono context of a Parley route. */
export type AppContext = Context<AppEnv>;

/** A sub-app whose validation failures become problem documents. */
export function createRouter(): OpenAPIHono<AppEnv> {
  return new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
}

const DESCRIPTIONS: Record<number, string> = {
  400: 'Invalid input: the problem document names each field at fault and the fix.',
  401: 'No valid access token or site credential.',
  403: 'The caller\'s role or organisation may not do this.',
  404: 'No such id, or not visible to the caller.',
  409: 'Clashes with what exists (duplicate name, revoked site, unfinished run).',
  413: 'Request body too large.',
  415: 'Request body is not JSON.',
  429: 'Too many attempts; see Retry-After.',
  503: 'A service the API depends on is unreachable.',
};

/** OpenAPI responses for the listed error statuses, each an RFC 9457 problem document. */
export function problemResponses(...statuses: number[]) {
  const out: Record<number, { description: string; content: { 'application/problem+json': { schema: typeof ProblemSchema } } }> = {};
  for (const status of statuses) {
    out[status] = {
      description: DESCRIPTIONS[status] ?? 'Error.',
      content: { 'application/problem+json': { schema: ProblemSchema } },
    };
  }
  return out;
}

/** The security requirement of routes that need a token (or, where said, a site credential). */
export const bearer = [{ bearerAuth: [] }];
