/**
 * Logging in, the throttle on failed logins, and who a token or site credential speaks for.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../common/errors.ts';
import { UserRole } from '../../common/roles.ts';
import { createFederation, createOrg, createUser } from '../testing/fixtures.ts';
import type { Harness } from '../testing/harness.ts';
import { call, expectProblem } from '../testing/http.ts';

export function authSuite(h: () => Harness): void {
  describe('POST /v1/login and GET /v1/me', () => {
    it('exchanges a username and password for a short-lived bearer token', async () => {
      const org = await createOrg(h());
      const user = await createUser(h(), org.id, UserRole.Researcher);
      const res = await call(h().app, 'POST', '/v1/login', { body: { username: user.username, password: user.password } });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ tokenType: 'Bearer', expiresIn: 900, user: { id: user.id, orgId: org.id, role: 'researcher' } });
      const me = await call(h().app, 'GET', '/v1/me', { token: res.body.accessToken });
      expect(me.body).toEqual({ kind: 'user', userId: user.id, username: user.username, orgId: org.id, role: 'researcher' });
    });

    it('gives the same 401 for a wrong password and an unknown user', async () => {
      const org = await createOrg(h());
      const user = await createUser(h(), org.id, UserRole.Auditor);
      const wrong = await call(h().app, 'POST', '/v1/login', { body: { username: user.username, password: 'not-the-password' }, ip: '10.0.0.1' });
      const unknown = await call(h().app, 'POST', '/v1/login', { body: { username: 'nobody-here', password: 'whatever-it-is' }, ip: '10.0.0.1' });
      expectProblem(wrong, 401, ErrorCode.Unauthenticated);
      expectProblem(unknown, 401, ErrorCode.Unauthenticated);
      expect(wrong.body.detail).toBe(unknown.body.detail);
    });

    it('refuses a malformed login request with 400 naming the fields', async () => {
      const res = await call(h().app, 'POST', '/v1/login', { body: { username: 42 } });
      expectProblem(res, 400, ErrorCode.InvalidInput);
      expect(res.body.errors.map((e: { field: string }) => e.field).sort()).toEqual(['password', 'username']);
    });

    it('throttles logins per username and address with 429 and Retry-After, and lets the window pass', async () => {
      let now = new Date();
      const app = h().makeApp({ now: () => now, loginLimit: { max: 3, windowSeconds: 60 } });
      const org = await createOrg(h());
      const user = await createUser(h(), org.id, UserRole.Researcher);
      const attempt = (password: string, ip = '192.0.2.7') => call(app, 'POST', '/v1/login', { body: { username: user.username, password }, ip });
      for (let i = 0; i < 3; i += 1) expect((await attempt('wrong-password')).status).toBe(401);
      const limited = await attempt(user.password);
      expectProblem(limited, 429, ErrorCode.RateLimited);
      expect(Number(limited.headers.get('retry-after'))).toBe(60);
      expect(limited.body.detail).toMatch(/Wait 60 seconds/);
      // Another address is not throttled by someone else's failures.
      expect((await attempt(user.password, '192.0.2.8')).status).toBe(200);
      now = new Date(now.getTime() + 61_000);
      expect((await attempt(user.password)).status).toBe(200);
    });

    it('clears the failure count after a successful login', async () => {
      const app = h().makeApp({ loginLimit: { max: 2, windowSeconds: 60 } });
      const org = await createOrg(h());
      const user = await createUser(h(), org.id, UserRole.Researcher);
      const attempt = (password: string) => call(app, 'POST', '/v1/login', { body: { username: user.username, password } });
      expect((await attempt('wrong-password')).status).toBe(401);
      expect((await attempt(user.password)).status).toBe(200);
      expect((await attempt('wrong-password')).status).toBe(401);
      expect((await attempt(user.password)).status).toBe(200);
    });

    it('throttles a burst of parallel guesses too', async () => {
      const app = h().makeApp({ loginLimit: { max: 5, windowSeconds: 60 } });
      const org = await createOrg(h());
      const user = await createUser(h(), org.id, UserRole.Researcher);
      const answers = await Promise.all(Array.from({ length: 12 }, () => call(app, 'POST', '/v1/login', { body: { username: user.username, password: 'guess-guess' } })));
      expect(answers.filter((a) => a.status === 401)).toHaveLength(5);
      expect(answers.filter((a) => a.status === 429)).toHaveLength(7);
    });

    it('tells a site worker which site its credential belongs to', async () => {
      const fed = await createFederation(h());
      const me = await call(h().app, 'GET', '/v1/me', { token: fed.credentials[0] });
      expect(me.body).toEqual({ kind: 'site', siteId: fed.siteIds[0], orgId: fed.sites[0]!.id, collaborationId: fed.collaboration.id });
    });
  });
}
