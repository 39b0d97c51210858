/**
 * Who is calling, and may they. Every /v1 route but login needs a bearer token: either a user's
 * access token (a JWT, refused once logged out or revoked, or when its user is disabled:
 * token-state.ts) or a site credential (`pst_…`, looked up by its hash and refused once
 * revoked). Route-level guards then check role before the body is even read.
 */
import { and, eq, isNull } from 'drizzle-orm';
import type { MiddlewareHandler } from 'hono';
import { ErrorCode } from '../../common/errors.ts';
import { sites } from '../../db/schema.ts';
import type { UserRole } from '../../common/roles.ts';
import type { Services } from '../deps.ts';
import { ApiError, forbidden } from '../errors.ts';
import type { AppContext, AppEnv, Principal, SitePrincipal, UserPrincipal } from '../router.ts';
import { SITE_CREDENTIAL_PREFIX, hashSiteCredential } from './site-credentials.ts';
import { liveUser } from './token-state.ts';

const HOW = 'Send "Authorization: Bearer <token>" with an access token from POST /v1/login, or a site credential from site registration.';

function unauthenticated(why: string): ApiError {
  return new ApiError(ErrorCode.Unauthenticated, `${why} ${HOW}`);
}

/** Resolves the bearer token into the request's principal; 401 when absent or invalid. */
export function authenticate(services: Services): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const header = c.req.header('authorization');
    if (header === undefined) throw unauthenticated('This route needs authentication.');
    const match = /^Bearer ([\x21-\x7e]{1,4096})$/i.exec(header.trim());
    if (match === null) throw unauthenticated('The Authorization header is not a bearer token.');
    const token = match[1]!;
    let principal: Principal | undefined;
    if (token.startsWith(SITE_CREDENTIAL_PREFIX)) {
      principal = await siteFor(services, token);
    } else {
      const claims = await services.tokens.verify(token);
      principal = claims && await liveUser(services.db, claims);
      if (claims && principal) c.set('token', { id: claims.tokenId, expiresAt: claims.expiresAt });
    }
    if (principal === undefined) {
      throw unauthenticated('The token is invalid, expired or revoked, or its user is disabled; log in again (or ask for a new site credential).');
    }
    c.set('principal', principal);
    await next();
  };
}

async function siteFor(services: Services, credential: string): Promise<SitePrincipal | undefined> {
  const [site] = await services.db.select({ id: sites.id, orgId: sites.orgId, collaborationId: sites.collaborationId })
    .from(sites)
    .where(and(eq(sites.credentialHash, hashSiteCredential(credential)), isNull(sites.revokedAt)))
    .limit(1);
  return site && { kind: 'site', siteId: site.id, orgId: site.orgId, collaborationId: site.collaborationId };
}

/** Who may call a route: users of these roles (or any user), and whether site credentials may. */
export interface Allowed {
  users: 'any' | readonly UserRole[];
  sites?: boolean;
}

/** Route middleware: 403 unless the principal is allowed. */
export function allow(allowed: Allowed): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const principal = principalOf(c);
    if (principal.kind === 'site') {
      if (!allowed.sites) throw forbidden('A site credential may only read organisations and their public keys. Log in as a user for anything else.');
    } else if (allowed.users !== 'any' && !allowed.users.includes(principal.role)) {
      throw forbidden(`Your role (${principal.role}) may not do this; it needs the role ${allowed.users.join(' or ')}. Ask a server admin.`);
    }
    await next();
  };
}

/** The authenticated caller. */
export function principalOf(c: AppContext): Principal {
  const principal = c.get('principal');
  if (principal === undefined) throw unauthenticated('This route needs authentication.');
  return principal;
}

/** The authenticated user; 403 for a site credential. */
export function userOf(c: AppContext): UserPrincipal {
  const principal = principalOf(c);
  if (principal.kind !== 'user') throw forbidden('This route is for users; a site credential cannot use it.');
  return principal;
}
