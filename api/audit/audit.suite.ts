/**
 * The audit trail: every change leaves an event in the same transaction, refused changes leave
 * none, auditors and admins read it page by page, and the database refuses to rewrite it.
 */
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../common/errors.ts';
import { PgCode, pgErrorOf } from '../../db/pg-error.ts';
import { auditEvents, runs } from '../../db/schema.ts';
import { recordAudit } from './record-audit.ts';
import { UserRole } from '../../common/roles.ts';
import { createFederation, createOrg, createUser, uid } from '../testing/fixtures.ts';
import type { Harness } from '../testing/harness.ts';
import { call, expectProblem } from '../testing/http.ts';

async function totalEvents(h: Harness): Promise<number> {
  const [row] = await h.database.db.select({ n: sql<number>`count(*)::int` }).from(auditEvents);
  return row!.n;
}

export function auditSuite(h: () => Harness): void {
  describe('/v1/audit', () => {
    it('lets auditors and server admins read the trail, and nobody else', async () => {
      const fed = await createFederation(h());
      const auditor = await createUser(h(), fed.lab.id, UserRole.Auditor);
      for (const token of [auditor.token, h().adminToken]) {
        const res = await call(h().app, 'GET', '/v1/audit', { token });
        expect(res.status).toBe(200);
        expect(res.body.events.length).toBeGreaterThan(0);
      }
      for (const token of [fed.researcher.token, fed.operators[0]!.token, fed.credentials[0]!]) {
        expectProblem(await call(h().app, 'GET', '/v1/audit', { token }), 403, ErrorCode.Forbidden);
      }
    });

    it('shows an auditor only its own organisation\'s and its collaborations\' events; a server admin all', async () => {
      const ours = await createFederation(h());
      const theirs = await createFederation(h());
      const auditor = await createUser(h(), ours.sites[0]!.id, UserRole.Auditor);
      // A run in each collaboration, recorded as the runs API records one.
      const runIn = async (fed: typeof ours) => {
        const id = `run-${uid()}`;
        await h().database.db.insert(runs).values({ id, collaborationId: fed.collaboration.id, requesterId: fed.researcher.id, requesterOrg: fed.lab.id, protocol: 'chain', participants: fed.sites.map((s) => s.id), spec: { modulus: '1000', dataset: 'd', image: { name: 'x', digest: `sha256:${'0'.repeat(64)}` } }, status: 'running' });
        await recordAudit(h().database.db, { actor: 'system', action: 'run.status', target: { kind: 'run', id }, at: new Date() });
        return id;
      };
      const [ourRun, theirRun] = [await runIn(ours), await runIn(theirs)];
      const events = async (token: string, query = '') => (await call(h().app, 'GET', `/v1/audit?limit=1000${query}`, { token })).body.events as Array<{ action: string; target: { kind: string; id: string } }>;
      const seen = await events(auditor.token);
      const targets = new Set(seen.map((e) => e.target.id));
      expect(targets).toContain(ours.collaboration.id);
      for (const id of ours.siteIds) expect(targets).toContain(id);
      expect(targets).toContain(ours.sites[0]!.id);
      expect(targets).toContain(auditor.id);
      expect(targets).toContain(ourRun);
      expect(targets).not.toContain(theirRun);
      // Another collaboration, its sites, other organisations and their users: none of it.
      for (const id of [theirs.collaboration.id, ...theirs.siteIds, theirs.researcher.id, ...theirs.operators.map((o) => o.id), theirs.lab.id, ours.sites[1]!.id, ours.researcher.id]) {
        expect(targets).not.toContain(id);
      }
      // Asking for them by id finds nothing either.
      expect(await events(auditor.token, `&targetId=${theirs.collaboration.id}`)).toEqual([]);
      expect(await events(auditor.token, `&targetKind=site&targetId=${theirs.siteIds[0]}`)).toEqual([]);
      // An auditor of an organisation in no collaboration sees only its own organisation's events.
      const lone = await createOrg(h());
      const outsider = await createUser(h(), lone.id, UserRole.Auditor);
      expect(new Set((await events(outsider.token)).map((e) => e.target.id))).toEqual(new Set([lone.id, outsider.id]));
      const everything = new Set((await events(h().adminToken, `&targetKind=collaboration`)).map((e) => e.target.id));
      expect(everything).toContain(theirs.collaboration.id);
      expect(everything).toContain(ours.collaboration.id);
    });

    it('records who did what to which target, with no secrets in the details', async () => {
      const org = await createOrg(h());
      const user = await createUser(h(), org.id, UserRole.Researcher);
      const res = await call(h().app, 'GET', `/v1/audit?targetKind=user&targetId=${user.id}`, { token: h().adminToken });
      expect(res.body.events).toEqual([{
        id: expect.any(Number), at: expect.any(String), action: 'user.create',
        actor: { kind: 'user', id: expect.any(String), orgId: 'central' },
        target: { kind: 'user', id: user.id },
        details: { username: user.username, orgId: org.id, role: 'researcher' },
      }]);
      expect(res.text).not.toContain(user.password);
    });

    it('pages oldest first with after and limit', async () => {
      for (let i = 0; i < 3; i += 1) await createOrg(h());
      const first = await call(h().app, 'GET', '/v1/audit?limit=2', { token: h().adminToken });
      expect(first.body.events).toHaveLength(2);
      expect(first.body.next).toBe(first.body.events[1].id);
      const second = await call(h().app, 'GET', `/v1/audit?limit=2&after=${first.body.next}`, { token: h().adminToken });
      expect(second.body.events[0].id).toBeGreaterThan(first.body.next);
      const all = await call(h().app, 'GET', '/v1/audit?limit=1000', { token: h().adminToken });
      const ids = all.body.events.map((e: { id: number }) => e.id);
      expect(ids).toEqual([...ids].sort((a, b) => a - b));
    });

    it('refuses bad paging parameters with 400', async () => {
      for (const query of ['limit=0', 'limit=1001', 'limit=abc', 'after=-1', 'after=1e3', 'targetKind=DROP%20TABLE', 'unknown=1']) {
        expectProblem(await call(h().app, 'GET', `/v1/audit?${query}`, { token: h().adminToken }), 400, ErrorCode.InvalidInput);
      }
    });

    it('writes no event for a refused change', async () => {
      const org = await createOrg(h());
      const before = await totalEvents(h());
      await call(h().app, 'POST', '/v1/organisations', { token: h().adminToken, body: { id: org.id, name: `n-${uid()}` } });
      await call(h().app, 'POST', '/v1/users', { token: h().adminToken, body: { username: 'x', password: 'short', orgId: org.id, role: 'admin' } });
      expect(await totalEvents(h())).toBe(before);
    });

    it('is append-only in the database itself: UPDATE, DELETE and TRUNCATE are refused', async () => {
      const { db } = h().database;
      await createOrg(h());
      const before = await call(h().app, 'GET', '/v1/audit?limit=1000', { token: h().adminToken });
      const attempts = [
        db.update(auditEvents).set({ action: 'rewritten' }),
        db.delete(auditEvents),
        db.execute(sql`truncate audit_events`),
      ];
      for (const attempt of attempts) {
        const err = await attempt.then(() => undefined, (e: unknown) => e);
        expect(pgErrorOf(err)?.code).toBe(PgCode.RestrictViolation);
      }
      const after = await call(h().app, 'GET', '/v1/audit?limit=1000', { token: h().adminToken });
      expect(after.body.events.slice(0, before.body.events.length)).toEqual(before.body.events);
    });
  });
}
