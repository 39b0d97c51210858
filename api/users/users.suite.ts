/**
 * Users: created by a server admin, visible within their own organisation, passwords in once and
 * never out.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../common/errors.ts';
import { UserRole } from '../../common/roles.ts';
import { createFederation, createOrg, createUser, uid } from '../testing/fixtures.ts';
import type { Harness } from '../testing/harness.ts';
import { call, expectProblem, login } from '../testing/http.ts';

export function usersSuite(h: () => Harness): void {
  describe('/v1/users', () => {
    it('lets a server admin create a user of each role, who can then log in', async () => {
      const org = await createOrg(h());
      for (const role of Object.values(UserRole)) {
        const username = `u-${uid()}`;
        const password = 'a long enough passphrase';
        const res = await call(h().app, 'POST', '/v1/users', { token: h().adminToken, body: { username, password, orgId: org.id, role } });
        expect(res.status).toBe(201);
        expect(res.body).toEqual({ id: expect.any(String), username, orgId: org.id, role, disabled: false, createdAt: expect.any(String) });
        expect(res.text).not.toContain(password);
        expect(res.text).not.toContain('scrypt');
        await login(h().app, username, password);
      }
    });

    it('stores passwords only as scrypt hashes with their parameters', async () => {
      const org = await createOrg(h());
      const user = await createUser(h(), org.id, UserRole.Researcher);
      const rows = await h().database.db.query.users.findMany({ where: (u, { eq }) => eq(u.id, user.id) });
      expect(rows[0]!.passwordHash).toMatch(/^scrypt\$10\$8\$1\$[\w-]{22}\$[\w-]{43}$/);
      expect(rows[0]!.passwordHash).not.toContain(user.password);
    });

    it('refuses a short password, an unknown role and a malformed username with 400', async () => {
      const org = await createOrg(h());
      const res = await call(h().app, 'POST', '/v1/users', { token: h().adminToken, body: { username: 'Has Spaces', password: 'short', orgId: org.id, role: 'root' } });
      expectProblem(res, 400, ErrorCode.InvalidInput);
      expect(res.body.errors.map((e: { field: string }) => e.field).sort()).toEqual(['password', 'role', 'username']);
      expect(res.body.detail).toMatch(/at least 12 characters/);
      expect(res.text).not.toContain('short"');
    });

    it('answers an unknown organisation with 404 and a taken username with 409, creating nothing', async () => {
      const org = await createOrg(h());
      const user = await createUser(h(), org.id, UserRole.Auditor);
      const body = { username: `u-${uid()}`, password: 'a long enough passphrase', orgId: 'no-such-org', role: 'researcher' };
      expectProblem(await call(h().app, 'POST', '/v1/users', { token: h().adminToken, body }), 404, ErrorCode.NotFound);
      const taken = await call(h().app, 'POST', '/v1/users', { token: h().adminToken, body: { ...body, username: user.username, orgId: org.id } });
      expectProblem(taken, 409, ErrorCode.Conflict);
      expect(taken.body.errors[0].field).toBe('username');
      // The original password still works: the refused request changed nothing.
      await login(h().app, user.username, user.password);
    });

    it('answers concurrent creations of one username with a single 201 and 409s, never a 500', async () => {
      const org = await createOrg(h());
      const username = `u-${uid()}`;
      const answers = await Promise.all(Array.from({ length: 6 }, () => call(h().app, 'POST', '/v1/users', {
        token: h().adminToken, body: { username, password: 'a long enough passphrase', orgId: org.id, role: 'researcher' },
      })));
      expect(answers.map((a) => a.status).sort()).toEqual([201, 409, 409, 409, 409, 409]);
      for (const answer of answers.filter((a) => a.status === 409)) expect(answer.body.errors[0].field).toBe('username');
    });

    it('lets no one but a server admin create users', async () => {
      const fed = await createFederation(h());
      const auditor = await createUser(h(), fed.lab.id, UserRole.Auditor);
      const body = { username: `u-${uid()}`, password: 'a long enough passphrase', orgId: fed.lab.id, role: 'admin' };
      for (const token of [fed.researcher.token, fed.operators[0]!.token, auditor.token, fed.credentials[0]!]) {
        expectProblem(await call(h().app, 'POST', '/v1/users', { token, body }), 403, ErrorCode.Forbidden);
      }
    });

    it('shows users only their own organisation\'s users, and a server admin everyone', async () => {
      const a = await createOrg(h());
      const b = await createOrg(h());
      const alice = await createUser(h(), a.id, UserRole.Researcher);
      const bob = await createUser(h(), b.id, UserRole.Researcher);
      const mine = await call(h().app, 'GET', '/v1/users', { token: alice.token });
      expect(mine.body.users.map((u: { id: string }) => u.id)).toEqual([alice.id]);
      expect((await call(h().app, 'GET', `/v1/users/${alice.id}`, { token: alice.token })).status).toBe(200);
      expectProblem(await call(h().app, 'GET', `/v1/users/${bob.id}`, { token: alice.token }), 404, ErrorCode.NotFound);
      const all = await call(h().app, 'GET', '/v1/users', { token: h().adminToken });
      expect(all.body.users.map((u: { id: string }) => u.id)).toEqual(expect.arrayContaining([alice.id, bob.id]));
      expect((await call(h().app, 'GET', `/v1/users/${bob.id}`, { token: h().adminToken })).body.username).toBe(bob.username);
    });

    it('answers a malformed user id with 400, an unknown one with 404, a site credential with 403', async () => {
      const fed = await createFederation(h());
      expectProblem(await call(h().app, 'GET', '/v1/users/not-a-uuid', { token: h().adminToken }), 400, ErrorCode.InvalidInput);
      expectProblem(await call(h().app, 'GET', `/v1/users/${crypto.randomUUID()}`, { token: h().adminToken }), 404, ErrorCode.NotFound);
      expectProblem(await call(h().app, 'GET', '/v1/users', { token: fed.credentials[0] }), 403, ErrorCode.Forbidden);
    });
  });
}
