/**
 * The app as a whole: health, the OpenAPI document, and how any route treats bad requests —
 * malformed JSON, wrong media type, oversized bodies, unknown routes, missing or forged tokens.
 */
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../common/errors.ts';
import type { Harness } from './testing/harness.ts';
import { call, expectProblem, login } from './testing/http.ts';
import { ADMIN } from './testing/harness.ts';
import { uid } from './testing/fixtures.ts';
import { ensureAdmin } from './bootstrap.ts';
import { openDatabase } from '../db/client.ts';
import { startServer } from './server.ts';

export function appSuite(h: () => Harness): void {
  describe('the app', () => {
    it('answers /healthz with ok when the database answers', async () => {
      const res = await call(h().app, 'GET', '/healthz');
      expect(res).toMatchObject({ status: 200, body: { status: 'ok' } });
    });

    it('answers /healthz with a 503 problem document when the database is gone', async () => {
      const gone = await openDatabase();
      await gone.close();
      const res = await call(h().makeApp({ db: gone.db }), 'GET', '/healthz');
      expectProblem(res, 503, ErrorCode.Unavailable);
    });

    it('serves an OpenAPI 3.1 document listing every route with its schemas', async () => {
      const res = await call(h().app, 'GET', '/openapi.json');
      expect(res.status).toBe(200);
      expect(res.body.openapi).toBe('3.1.0');
      expect(Object.keys(res.body.paths).sort()).toEqual([
        '/healthz', '/v1/audit', '/v1/collaborations', '/v1/collaborations/{collaborationId}',
        '/v1/collaborations/{collaborationId}/members', '/v1/login', '/v1/logout', '/v1/me', '/v1/organisations',
        '/v1/organisations/{orgId}', '/v1/organisations/{orgId}/keys', '/v1/organisations/{orgId}/keys/history',
        '/v1/organisations/{orgId}/keys/{thumbprint}', '/v1/runs', '/v1/runs/participants', '/v1/runs/{runId}', '/v1/runs/{runId}/cancel', '/v1/runs/{runId}/progress', '/v1/runs/{runId}/result',
        '/v1/sites', '/v1/sites/me', '/v1/sites/{siteId}', '/v1/sites/{siteId}/revoke', '/v1/users', '/v1/users/{userId}', '/v1/users/{userId}/revoke-tokens',
      ].sort());
      expect(res.body.components.securitySchemes.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' });
      const create = res.body.paths['/v1/organisations'].post;
      expect(create.requestBody.content['application/json'].schema).toBeDefined();
      expect(create.responses['409'].content['application/problem+json']).toBeDefined();
    });

    it('answers an unknown route with a 404 problem document', async () => {
      const res = await call(h().app, 'GET', '/v1/nothing-here', { token: h().adminToken });
      expectProblem(res, 404, ErrorCode.NotFound);
      expect(res.body.detail).toContain('/openapi.json');
    });

    it('refuses malformed JSON with a 400 that says the body is not JSON', async () => {
      for (const raw of ['{', '{"id": "x",}', 'not json', '{"id": "x"} trailing']) {
        const res = await call(h().app, 'POST', '/v1/organisations', { token: h().adminToken, raw });
        expectProblem(res, 400, ErrorCode.InvalidInput);
        expect(res.body.detail).toMatch(/not valid JSON/);
      }
    });

    it('refuses JSON that is not an object, naming the whole value', async () => {
      for (const raw of ['null', '[]', '"text"', '42', 'true']) {
        const res = await call(h().app, 'POST', '/v1/organisations', { token: h().adminToken, raw });
        expectProblem(res, 400, ErrorCode.InvalidInput);
      }
    });

    it('refuses a body sent as something other than JSON with 415', async () => {
      const res = await call(h().app, 'POST', '/v1/organisations', { token: h().adminToken, raw: 'id=x', contentType: 'application/x-www-form-urlencoded' });
      expectProblem(res, 415, ErrorCode.InvalidInput);
      expect(res.body.detail).toContain('Content-Type: application/json');
    });

    it('treats a body without Content-Type as missing fields, not as a crash', async () => {
      const res = await call(h().app, 'POST', '/v1/organisations', { token: h().adminToken, raw: '{"id":"x"}', contentType: null });
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
    });

    it('refuses a body over the size limit with 413 before reading it', async () => {
      const huge = JSON.stringify({ id: 'big', name: 'x'.repeat(100_000) });
      const res = await call(h().app, 'POST', '/v1/organisations', { token: h().adminToken, raw: huge });
      expectProblem(res, 413, ErrorCode.PayloadTooLarge);
      // The unread rest of the body cannot be followed by another request on that connection.
      expect(res.headers.get('connection')).toBe('close');
    });

    it('refuses unknown fields, naming each one', async () => {
      const res = await call(h().app, 'POST', '/v1/organisations', { token: h().adminToken, body: { id: `o-${uid()}`, name: 'X', colour: 'red' } });
      expectProblem(res, 400, ErrorCode.InvalidInput);
      expect(res.body.errors).toContainEqual({ in: 'body', field: 'colour', message: expect.stringContaining('not a known field') });
    });

    it('names every invalid field and how to fix it', async () => {
      const res = await call(h().app, 'POST', '/v1/organisations', { token: h().adminToken, body: { id: 'Not A Slug', name: 7 } });
      expectProblem(res, 400, ErrorCode.InvalidInput);
      expect(res.body.errors.map((e: { field: string }) => e.field).sort()).toEqual(['id', 'name']);
      expect(res.body.detail).toMatch(/id must be a lowercase slug/);
      expect(res.body.detail).toMatch(/name must be string, not number/);
    });

    it('refuses text with control characters (which PostgreSQL cannot store) with a 400', async () => {
      const res = await call(h().app, 'POST', '/v1/organisations', { token: h().adminToken, body: { id: `o-${uid()}`, name: 'nul\u0000here' } });
      expectProblem(res, 400, ErrorCode.InvalidInput);
    });

    it('asks for authentication with 401 and WWW-Authenticate when no token is sent', async () => {
      const res = await call(h().app, 'GET', '/v1/organisations');
      expectProblem(res, 401, ErrorCode.Unauthenticated);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
    });

    it('refuses garbage, non-bearer and forged tokens with 401', async () => {
      const forged = await new SignJWT({ org: 'central', role: 'admin', name: 'root' })
        .setProtectedHeader({ alg: 'HS256' }).setIssuer('parley-api').setAudience('parley-api').setSubject('x')
        .setIssuedAt().setExpirationTime('5m').sign(new Uint8Array(32).fill(1));
      for (const headers of [{ authorization: 'Bearer nonsense' }, { authorization: 'Basic cm9vdDpwdw==' }, { authorization: `Bearer ${forged}` }, { authorization: 'Bearer pst_unknown' }]) {
        const res = await call(h().app, 'GET', '/v1/organisations', { headers });
        expectProblem(res, 401, ErrorCode.Unauthenticated);
      }
    });

    it('refuses an access token once it has expired', async () => {
      let now = new Date();
      const app = h().makeApp({ now: () => now, accessTokenTtlSeconds: 60 });
      const token = await login(app, ADMIN.username, ADMIN.password);
      expect((await call(app, 'GET', '/v1/me', { token })).status).toBe(200);
      now = new Date(now.getTime() + 61_000);
      expectProblem(await call(app, 'GET', '/v1/me', { token }), 401, ErrorCode.Unauthenticated);
    });

    it('refuses a token signed by another API instance\'s secret', async () => {
      const other = h().makeApp({ tokenSecret: crypto.getRandomValues(new Uint8Array(32)) });
      const token = await login(other, ADMIN.username, ADMIN.password);
      expectProblem(await call(h().app, 'GET', '/v1/me', { token }), 401, ErrorCode.Unauthenticated);
    });

    it('serves over HTTP on a free port with startServer, and stops', async () => {
      const server = await startServer(h().app, { port: 0 });
      try {
        expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
        const health = await fetch(`${server.url}/healthz`);
        expect(await health.json()).toEqual({ status: 'ok' });
        const login = await fetch(`${server.url}/v1/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(ADMIN) });
        expect(login.status).toBe(200);
      } finally {
        await server.close();
      }
      await expect(fetch(`${server.url}/healthz`)).rejects.toThrow();
    });

    it('creates the first admin once, and leaves an existing one alone', async () => {
      const username = `first-admin-${uid()}`;
      const admin = { orgId: `op-${uid()}`, orgName: `Operator ${uid()}`, username, password: 'first-admin-password', passwordCost: { log2N: 10, r: 8, p: 1 } };
      expect(await ensureAdmin(h().database.db, admin)).toEqual({ created: true });
      expect(await ensureAdmin(h().database.db, { ...admin, password: 'another-password-entirely' })).toEqual({ created: false });
      const token = await login(h().app, username, 'first-admin-password');
      expect((await call(h().app, 'GET', '/v1/me', { token })).body).toMatchObject({ role: 'admin', orgId: admin.orgId });
      await expect(ensureAdmin(h().database.db, { ...admin, username: `x-${uid()}`, password: 'short' })).rejects.toThrow(TypeError);
    });

    it('refuses to build with a token secret shorter than 32 bytes', () => {
      expect(() => h().makeApp({ tokenSecret: new Uint8Array(16) })).toThrow(TypeError);
    });
  });
}
