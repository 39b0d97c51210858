/**
 * Logging in, the throttle on failed logins, and who a token or site credential speaks for.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../common/errors.ts';
import { UserRole } from '../../common/roles.ts';
import { createFederation, createOrg, createUser } from '../testing/fixtures.ts';
import type { Harness } from '../testing/harness.ts';
import { call, expectProblem, login } from '../testing/http.ts';
import { createTokenService } from './tokens.ts';

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

  describe('POST /v1/logout, revoking a user\'s tokens, disabling a user', () => {
    const me = (token: string) => call(h().app, 'GET', '/v1/me', { token });

    it('logs out: the token sent stops working at once, the user\'s other session goes on', async () => {
      const org = await createOrg(h());
      const user = await createUser(h(), org.id, UserRole.Researcher);
      const other = await login(h().app, user.username, user.password);
      const out = await call(h().app, 'POST', '/v1/logout', { token: user.token });
      expect(out.status).toBe(204);
      expectProblem(await me(user.token), 401, ErrorCode.Unauthenticated);
      expectProblem(await call(h().app, 'POST', '/v1/logout', { token: user.token }), 401, ErrorCode.Unauthenticated);
      expect((await me(other)).status).toBe(200);
      const audit = await call(h().app, 'GET', `/v1/audit?targetKind=user&targetId=${user.id}`, { token: h().adminToken });
      expect(audit.body.events.map((e: { action: string }) => e.action)).toEqual(['user.create', 'user.logout']);
      expect(audit.text).not.toContain(user.token);
    });

    it('lets a server admin revoke every token of a user, who logs in again for a new one', async () => {
      const org = await createOrg(h());
      const user = await createUser(h(), org.id, UserRole.Auditor);
      const second = await login(h().app, user.username, user.password);
      const res = await call(h().app, 'POST', `/v1/users/${user.id}/revoke-tokens`, { token: h().adminToken });
      expect(res.status).toBe(200);
      for (const token of [user.token, second]) expectProblem(await me(token), 401, ErrorCode.Unauthenticated);
      expect((await me(await login(h().app, user.username, user.password))).status).toBe(200);
    });

    it('disables a user: its tokens are refused at once, it cannot log in, and enabling it brings no old token back', async () => {
      const org = await createOrg(h());
      const user = await createUser(h(), org.id, UserRole.Researcher);
      const disabled = await call(h().app, 'PATCH', `/v1/users/${user.id}`, { token: h().adminToken, body: { disabled: true } });
      expect(disabled.status).toBe(200);
      expect(disabled.body).toMatchObject({ id: user.id, disabled: true });
      expectProblem(await me(user.token), 401, ErrorCode.Unauthenticated);
      expectProblem(await call(h().app, 'GET', '/v1/collaborations', { token: user.token }), 401, ErrorCode.Unauthenticated);
      const refused = await call(h().app, 'POST', '/v1/login', { body: { username: user.username, password: user.password }, ip: '192.0.2.31' });
      expectProblem(refused, 401, ErrorCode.Unauthenticated);
      expect(refused.body.detail).toMatch(/disabled/);
      // Without the password, a disabled user looks like any other.
      const guess = await call(h().app, 'POST', '/v1/login', { body: { username: user.username, password: 'a wrong guess' }, ip: '192.0.2.31' });
      expect(guess.body.detail).not.toMatch(/disabled/);

      const enabled = await call(h().app, 'PATCH', `/v1/users/${user.id}`, { token: h().adminToken, body: { disabled: false } });
      expect(enabled.body.disabled).toBe(false);
      expectProblem(await me(user.token), 401, ErrorCode.Unauthenticated);
      expect((await me(await login(h().app, user.username, user.password))).status).toBe(200);
      const audit = await call(h().app, 'GET', `/v1/audit?targetKind=user&targetId=${user.id}`, { token: h().adminToken });
      expect(audit.body.events.map((e: { action: string }) => e.action)).toEqual(['user.create', 'user.disable', 'user.enable']);
    });

    it('lets no one but a server admin disable users or revoke their tokens, and no admin disable itself', async () => {
      const fed = await createFederation(h());
      const auditor = await createUser(h(), fed.lab.id, UserRole.Auditor);
      const victim = fed.researcher;
      for (const token of [fed.operators[0]!.token, auditor.token, fed.credentials[0]!, victim.token]) {
        expectProblem(await call(h().app, 'PATCH', `/v1/users/${victim.id}`, { token, body: { disabled: true } }), 403, ErrorCode.Forbidden);
        expectProblem(await call(h().app, 'POST', `/v1/users/${victim.id}/revoke-tokens`, { token }), 403, ErrorCode.Forbidden);
      }
      expect((await me(victim.token)).status).toBe(200);
      const admin = (await call(h().app, 'GET', '/v1/me', { token: h().adminToken })).body.userId as string;
      expectProblem(await call(h().app, 'PATCH', `/v1/users/${admin}`, { token: h().adminToken, body: { disabled: true } }), 409, ErrorCode.Conflict);
      expectProblem(await call(h().app, 'PATCH', `/v1/users/${crypto.randomUUID()}`, { token: h().adminToken, body: { disabled: true } }), 404, ErrorCode.NotFound);
      expectProblem(await call(h().app, 'PATCH', `/v1/users/${victim.id}`, { token: h().adminToken, body: { disabled: 'yes' } }), 400, ErrorCode.InvalidInput);
    });

    it('refuses a token signed with the right key but an older generation, or for a user that does not exist', async () => {
      const org = await createOrg(h());
      const user = await createUser(h(), org.id, UserRole.Researcher);
      const tokens = createTokenService(h().tokenSecret, 900, () => new Date());
      const principal = { kind: 'user' as const, userId: user.id, username: user.username, orgId: org.id, role: UserRole.Researcher };
      expect((await me((await tokens.issue(principal, 0)).token)).status).toBe(200);
      await call(h().app, 'POST', `/v1/users/${user.id}/revoke-tokens`, { token: h().adminToken });
      expectProblem(await me((await tokens.issue(principal, 0)).token), 401, ErrorCode.Unauthenticated);
      expect((await me((await tokens.issue(principal, 1)).token)).status).toBe(200);
      // The role and organisation a request acts with are the database's, not the token's.
      const claimsAdmin = (await tokens.issue({ ...principal, role: UserRole.Admin, orgId: 'central' }, 1)).token;
      expect((await me(claimsAdmin)).body).toMatchObject({ role: 'researcher', orgId: org.id });
      expectProblem(await me((await tokens.issue({ ...principal, userId: crypto.randomUUID() }, 0)).token), 401, ErrorCode.Unauthenticated);
    });
  });
}
