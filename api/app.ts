/**
 * Parley's central API as one Hono app: /healthz, /openapi.json (OpenAPI 3.1 from the same zod
 * schemas that validate requests) and one sub-app per resource under /v1. It holds public keys,
 * hashes and ciphertext only, and never logs a password, token, credential or key.
 */
import { createRoute, z } from '@hono/zod-openapi';
import type { OpenAPIHono } from '@hono/zod-openapi';
import { sql } from 'drizzle-orm';
import type { MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { routePath } from 'hono/route';
import { ErrorCode } from '../common/errors.ts';
import { createAuditApp } from './audit/routes.ts';
import { authenticate } from './auth/authenticate.ts';
import { createAuthApp } from './auth/routes.ts';
import { createBlobsApp } from './blobs/routes.ts';
import { createCollaborationsApp } from './collaborations/routes.ts';
import { resolveServices } from './deps.ts';
import type { AppDeps, Services } from './deps.ts';
import { createOrganisationsApp } from './organisations/routes.ts';
import { ApiError } from './errors.ts';
import { createErrorHandler, handleNotFound, problem } from './problem.ts';
import { createRouter, problemResponses } from './router.ts';
import type { AppEnv } from './router.ts';
import { createRunsApp } from './runs/routes.ts';
import { createSitesApp } from './sites/routes.ts';
import { createUsersApp } from './users/routes.ts';

export type { AppDeps } from './deps.ts';

const healthz = createRoute({
  method: 'get', path: '/healthz', tags: ['health'], summary: 'Liveness and database reachability',
  responses: {
    200: { description: 'Up.', content: { 'application/json': { schema: z.object({ status: z.literal('ok') }) } } },
    ...problemResponses(503),
  },
});

// One line per request: method, route pattern (never the raw path or query), status, duration.
function requestLog(services: Services): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const started = performance.now();
    await next();
    services.logger.info('request', {
      method: c.req.method, route: routePath(c, -1) || 'unmatched', status: c.res.status,
      ms: Math.round(performance.now() - started), principal: c.get('principal')?.kind,
    });
  };
}

/**
 * Builds the API. Nothing listens yet: serve `app.fetch` (api/server.ts startServer), or call
 * `app.request()` in tests.
 *
 * @throws TypeError when a dependency is missing or invalid (e.g. a token secret under 32 bytes).
 */
export function createApp(deps: AppDeps): OpenAPIHono<AppEnv> {
  const services = resolveServices(deps);
  const app = createRouter();
  app.onError(createErrorHandler(services.logger));
  app.notFound(handleNotFound);
  app.use('*', requestLog(services));
  const limitBody = bodyLimit({
    maxSize: services.maxBodyBytes,
    onError: (c) => problem(c, {
      status: 413, code: ErrorCode.PayloadTooLarge,
      detail: `The request body is larger than ${services.maxBodyBytes} bytes, the most this API reads for any request, so it was not read. Send a smaller body: no Parley request needs more.`,
      // The rest of the body is never read: the connection cannot carry another request, and the
      // server closes it after a lingering close (common/lingering-close.ts) so the answer arrives.
      headers: { connection: 'close' },
    }),
  });
  // Blobs stream to their store under their own limit (api/blobs/routes.ts); every other body is small.
  app.use('*', (c, next) => (services.blobs !== undefined && c.req.path.startsWith('/v1/blobs/') ? next() : limitBody(c, next)));

  const auth = authenticate(services);
  app.use('/v1/*', (c, next) => (c.req.path === '/v1/login' ? next() : auth(c, next)));

  app.openapi(healthz, async (c) => {
    try {
      await services.db.execute(sql`select 1`);
    } catch (err) {
      throw new ApiError(ErrorCode.Unavailable, 'The database does not answer. Check the database server and the API\'s connection settings.', { cause: err });
    }
    return c.json({ status: 'ok' as const }, 200);
  });

  app.route('/v1', createAuthApp(services));
  app.route('/v1/organisations', createOrganisationsApp(services));
  app.route('/v1/users', createUsersApp(services));
  app.route('/v1/collaborations', createCollaborationsApp(services));
  app.route('/v1/sites', createSitesApp(services));
  app.route('/v1/runs', createRunsApp(services));
  app.route('/v1/audit', createAuditApp(services));
  if (services.blobs !== undefined) app.route('/v1/blobs', createBlobsApp(services, services.blobs, services.maxBlobBytes));

  app.openAPIRegistry.registerComponent('securitySchemes', 'bearerAuth', {
    type: 'http', scheme: 'bearer',
    description: 'An access token from POST /v1/login, or (for reading organisations and keys) a site credential.',
  });
  app.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: { title: 'Parley API', version: '1', description: 'Organisations, public keys, collaborations, sites, runs and the audit trail. Ciphertext only.' },
  });
  return app;
}
