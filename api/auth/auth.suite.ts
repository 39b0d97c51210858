/**
 * Logging in, the throttle on failed logins, and who a token or site credential speaks for.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../common/errors.ts';
import { UserRole } from '../../db/schema.ts';
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

    it('throttles one username\'s logins with 429 and Retry-After whatever the address, and lets the window pass', async () => {
      let now = new Date();
      const app = h().makeApp({ now: () => now, loginLimit: { max: 3, windowSeconds: 60 } });
      const org = await createOrg(h());
      const user = await createUser(h(), org.id, UserRole.Researcher);
      const attempt = (password: string, ip: string) => call(app, 'POST', '/v1/login', { body: { username: user.username, password }, ip });
      // A guesser spreading over many addresses: three guesses in all, then even the right password waits.
      for (const ip of ['192.0.2.1', '198.51.100.2', '203.0.113.3']) expect((await attempt('wrong-password', ip)).status).toBe(401);
      for (const ip of ['192.0.2.4', '2001:db8::5']) {
        const limited = await attempt(user.password, ip);
        expectProblem(limited, 429, ErrorCode.RateLimited);
        expect(Number(limited.headers.get('retry-after'))).toBe(60);
        expect(limited.body.detail).toMatch(/for this username\. Wait 60 seconds/);
      }
      // Another user is not throttled by the guesses at this one.
      const other = await createUser(h(), org.id, UserRole.Researcher);
      expect((await call(app, 'POST', '/v1/login', { body: { username: other.username, password: other.password }, ip: '192.0.2.1' })).status).toBe(200);
      now = new Date(now.getTime() + 61_000);
      expect((await attempt(user.password, '192.0.2.9')).status).toBe(200);
    });

    it('throttles one address spraying a password over many usernames, and a login of its own buys it no more', async () => {
      let now = new Date();
      const app = h().makeApp({ now: () => now, loginLimit: { max: 3, windowSeconds: 60 }, loginAddressLimit: { max: 5, windowSeconds: 60 } });
      const org = await createOrg(h());
      const own = await createUser(h(), org.id, UserRole.Researcher);
      const victims = await Promise.all(Array.from({ length: 3 }, () => createUser(h(), org.id, UserRole.Auditor)));
      const spray = (username: string, password = 'Summer2026!', ip = '192.0.2.66') => call(app, 'POST', '/v1/login', { body: { username, password }, ip });
      for (const name of ['ann', 'bob', 'cat', victims[0]!.username]) expect((await spray(name)).status).toBe(401);
      // Its own successful login takes back only its own attempt.
      expect((await spray(own.username, own.password)).status).toBe(200);
      expect((await spray(victims[1]!.username)).status).toBe(401);
      for (const name of ['dan', victims[2]!.username]) {
        const limited = await spray(name);
        expectProblem(limited, 429, ErrorCode.RateLimited);
        expect(limited.body.detail).toMatch(/from your address\. Wait \d+ seconds/);
      }
      expectProblem(await spray(victims[2]!.username, victims[2]!.password), 429, ErrorCode.RateLimited);
      // The victims themselves, from their own addresses, still log in.
      expect((await spray(victims[2]!.username, victims[2]!.password, '198.51.100.7')).status).toBe(200);
      now = new Date(now.getTime() + 61_000);
      expect((await spray(victims[1]!.username, victims[1]!.password)).status).toBe(200);
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
