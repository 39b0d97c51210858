/**
 * Collaborations: created and extended by a server admin, visible to their members' users
 * (auditors too) and sites, to server admins, and to nobody else.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../common/errors.ts';
import { UserRole } from '../../common/roles.ts';
import { createCollaboration, createFederation, createOrg, createUser, uid } from '../testing/fixtures.ts';
import type { Harness } from '../testing/harness.ts';
import { call, expectProblem } from '../testing/http.ts';

export function collaborationsSuite(h: () => Harness): void {
  describe('/v1/collaborations', () => {
    it('lets a server admin create a collaboration of organisations', async () => {
      const a = await createOrg(h());
      const b = await createOrg(h());
      const name = `Registry study ${uid()}`;
      const res = await call(h().app, 'POST', '/v1/collaborations', { token: h().adminToken, body: { name, members: [b.id, a.id] } });
      expect(res.status).toBe(201);
      expect(res.body).toMatchObject({ name, members: [{ orgId: a.id }, { orgId: b.id }].sort((x, y) => x.orgId.localeCompare(y.orgId)) });
      const audit = await call(h().app, 'GET', `/v1/audit?targetId=${res.body.id}`, { token: h().adminToken });
      expect(audit.body.events).toMatchObject([{ action: 'collaboration.create' }]);
    });

    it('refuses a duplicate name with 409, an unknown member with 404, a repeated member with 400', async () => {
      const org = await createOrg(h());
      const collab = await createCollaboration(h(), [org.id]);
      const dup = await call(h().app, 'POST', '/v1/collaborations', { token: h().adminToken, body: { name: collab.name, members: [] } });
      expectProblem(dup, 409, ErrorCode.Conflict);
      expect(dup.body.errors[0].field).toBe('name');
      const name = `c-${uid()}`;
      expectProblem(await call(h().app, 'POST', '/v1/collaborations', { token: h().adminToken, body: { name, members: [org.id, 'no-such-org'] } }), 404, ErrorCode.NotFound);
      expectProblem(await call(h().app, 'POST', '/v1/collaborations', { token: h().adminToken, body: { name, members: [org.id, org.id] } }), 400, ErrorCode.InvalidInput);
      const list = await call(h().app, 'GET', '/v1/collaborations', { token: h().adminToken });
      expect(list.body.collaborations.map((c: { name: string }) => c.name)).not.toContain(name);
    });

    it('lets no one but a server admin create collaborations or add members', async () => {
      const fed = await createFederation(h());
      const auditor = await createUser(h(), fed.lab.id, UserRole.Auditor);
      const extra = await createOrg(h());
      for (const token of [fed.researcher.token, fed.operators[0]!.token, auditor.token, fed.credentials[0]!]) {
        expectProblem(await call(h().app, 'POST', '/v1/collaborations', { token, body: { name: `c-${uid()}`, members: [] } }), 403, ErrorCode.Forbidden);
        expectProblem(await call(h().app, 'POST', `/v1/collaborations/${fed.collaboration.id}/members`, { token, body: { orgId: extra.id } }), 403, ErrorCode.Forbidden);
      }
    });

    it('shows a collaboration to its members\' users (auditors included) and sites, and to server admins', async () => {
      const fed = await createFederation(h());
      const auditor = await createUser(h(), fed.sites[0]!.id, UserRole.Auditor);
      const path = `/v1/collaborations/${fed.collaboration.id}`;
      for (const token of [fed.researcher.token, fed.operators[1]!.token, fed.credentials[2]!, h().adminToken, auditor.token]) {
        const res = await call(h().app, 'GET', path, { token });
        expect(res.status).toBe(200);
        expect(res.body.members).toHaveLength(4);
        const list = await call(h().app, 'GET', '/v1/collaborations', { token });
        expect(list.body.collaborations.map((c: { id: string }) => c.id)).toContain(fed.collaboration.id);
      }
    });

    it('hides a collaboration from a researcher and an auditor of an organisation outside it, as if it did not exist', async () => {
      const fed = await createFederation(h());
      const outsider = await createOrg(h());
      const path = `/v1/collaborations/${fed.collaboration.id}`;
      for (const role of [UserRole.Researcher, UserRole.Auditor, UserRole.SiteOperator]) {
        const stranger = await createUser(h(), outsider.id, role);
        const probe = await call(h().app, 'GET', path, { token: stranger.token });
        expectProblem(probe, 404, ErrorCode.NotFound);
        expect(probe.body.detail).toMatch(/^No collaboration ".+" exists, or it is not visible to you/);
        const theirs = await call(h().app, 'GET', '/v1/collaborations', { token: stranger.token });
        expect(theirs.body.collaborations).toEqual([]);
      }
    });

    it('adds a member once; again is 409, an unknown organisation or collaboration 404', async () => {
      const org = await createOrg(h());
      const other = await createOrg(h());
      const collab = await createCollaboration(h(), [org.id]);
      const add = (collabId: string, orgId: string) => call(h().app, 'POST', `/v1/collaborations/${collabId}/members`, { token: h().adminToken, body: { orgId } });
      const added = await add(collab.id, other.id);
      expect(added.status).toBe(201);
      expect(added.body.members.map((m: { orgId: string }) => m.orgId).sort()).toEqual([org.id, other.id].sort());
      expectProblem(await add(collab.id, other.id), 409, ErrorCode.Conflict);
      expectProblem(await add(collab.id, 'no-such-org'), 404, ErrorCode.NotFound);
      expectProblem(await add(crypto.randomUUID(), other.id), 404, ErrorCode.NotFound);
      expectProblem(await add('not-a-uuid', other.id), 400, ErrorCode.InvalidInput);
    });
  });
}
