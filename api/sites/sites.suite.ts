/**
 * Sites: registered with their organisation's signed enrolment (its consent) by its operator, with
 * a credential shown once, usable by the site worker for reading keys only, revoked for good.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../common/errors.ts';
import { generateOrgKeys, signSiteEnrolment } from '../../crypto/index.ts';
import { UserRole } from '../../common/roles.ts';
import { createCollaboration, createFederation, createOrg, createUser, registerSite } from '../testing/fixtures.ts';
import type { Harness } from '../testing/harness.ts';
import { call, expectProblem } from '../testing/http.ts';

export function sitesSuite(h: () => Harness): void {
  describe('/v1/sites', () => {
    it('registers a site for the operator\'s organisation and shows its credential exactly once', async () => {
      const org = await createOrg(h());
      const operator = await createUser(h(), org.id, UserRole.SiteOperator);
      const collab = await createCollaboration(h(), [org.id]);
      const enrolment = await signSiteEnrolment(org.keys, collab.id);
      const res = await call(h().app, 'POST', '/v1/sites', { token: operator.token, body: { collaborationId: collab.id, orgId: org.id, enrolment } });
      expect(res.status).toBe(201);
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(res.body).toMatchObject({ site: { collaborationId: collab.id, orgId: org.id, revokedAt: null }, credential: expect.stringMatching(/^pst_[\w-]{43}$/) });
      const { credential } = res.body;
      for (const path of ['/v1/sites', `/v1/sites/${res.body.site.id}`]) {
        const again = await call(h().app, 'GET', path, { token: operator.token });
        expect(again.status).toBe(200);
        expect(again.text).not.toContain(credential);
      }
      const audit = await call(h().app, 'GET', `/v1/audit?targetId=${res.body.site.id}`, { token: h().adminToken });
      expect(audit.body.events).toMatchObject([{ action: 'site.register', details: { orgId: org.id } }]);
      expect(JSON.stringify(audit.body)).not.toContain(credential);
      const stored = await h().database.db.query.sites.findFirst({ where: (s, { eq }) => eq(s.id, res.body.site.id) });
      expect(JSON.stringify(stored)).not.toContain(credential);
    });

    it('lets a site credential read organisations, keys and its own site, and nothing else', async () => {
      const fed = await createFederation(h());
      const token = fed.credentials[0]!;
      expect((await call(h().app, 'GET', `/v1/organisations/${fed.sites[1]!.id}/keys`, { token })).status).toBe(200);
      const me = await call(h().app, 'GET', '/v1/sites/me', { token });
      expect(me.body).toMatchObject({ id: fed.siteIds[0], orgId: fed.sites[0]!.id });
      expect((await call(h().app, 'GET', `/v1/sites/${fed.siteIds[0]}`, { token })).status).toBe(200);
      expectProblem(await call(h().app, 'GET', `/v1/sites/${fed.siteIds[1]}`, { token }), 404, ErrorCode.NotFound);
      expectProblem(await call(h().app, 'GET', '/v1/runs', { token }), 403, ErrorCode.Forbidden);
      expectProblem(await call(h().app, 'GET', '/v1/sites', { token }), 403, ErrorCode.Forbidden);
      expectProblem(await call(h().app, 'GET', '/v1/audit', { token }), 403, ErrorCode.Forbidden);
      const enrolment = await signSiteEnrolment(fed.sites[0]!.keys, fed.collaboration.id);
      expectProblem(await call(h().app, 'POST', '/v1/sites', { token, body: { collaborationId: fed.collaboration.id, orgId: fed.sites[0]!.id, enrolment } }), 403, ErrorCode.Forbidden);
      expectProblem(await call(h().app, 'GET', '/v1/sites/me', { token: fed.researcher.token }), 403, ErrorCode.Forbidden);
    });

    it('lets an operator act only for their own organisation; a server admin only with the organisation\'s enrolment', async () => {
      const fed = await createFederation(h());
      const extra = await createOrg(h());
      await call(h().app, 'POST', `/v1/collaborations/${fed.collaboration.id}/members`, { token: h().adminToken, body: { orgId: extra.id } });
      const body = { collaborationId: fed.collaboration.id, orgId: extra.id, enrolment: await signSiteEnrolment(extra.keys, fed.collaboration.id) };
      expectProblem(await call(h().app, 'POST', '/v1/sites', { token: fed.operators[0]!.token, body }), 403, ErrorCode.Forbidden);
      expectProblem(await call(h().app, 'POST', '/v1/sites', { token: fed.researcher.token, body }), 403, ErrorCode.Forbidden);
      const auditor = await createUser(h(), extra.id, UserRole.Auditor);
      expectProblem(await call(h().app, 'POST', '/v1/sites', { token: auditor.token, body }), 403, ErrorCode.Forbidden);
      // The admin passes on the enrolment the organisation signed (as `parley demo` does for its sites).
      expect((await call(h().app, 'POST', '/v1/sites', { token: h().adminToken, body })).status).toBe(201);
      expectProblem(await call(h().app, 'POST', `/v1/sites/${fed.siteIds[1]}/revoke`, { token: fed.operators[0]!.token }), 404, ErrorCode.NotFound);
    });

    it('refuses a server admin who enrols an organisation\'s site without its consent, even through an operator account it made', async () => {
      const collab = await createCollaboration(h(), [(await createOrg(h())).id]);
      const victim = await createOrg(h());
      await call(h().app, 'POST', `/v1/collaborations/${collab.id}/members`, { token: h().adminToken, body: { orgId: victim.id } });
      const register = (token: string, enrolment?: string) => call(h().app, 'POST', '/v1/sites', { token, body: { collaborationId: collab.id, orgId: victim.id, ...(enrolment === undefined ? {} : { enrolment }) } });
      // No enrolment at all.
      const bare = await register(h().adminToken);
      expectProblem(bare, 400, ErrorCode.InvalidInput);
      expect(bare.body.errors.map((e: { field: string }) => e.field)).toEqual(['enrolment']);
      // One the admin signed itself, with a key of its own making that claims to be the victim's.
      const impostor = await generateOrgKeys(victim.id);
      const forged = await register(h().adminToken, await signSiteEnrolment(impostor, collab.id));
      expectProblem(forged, 403, ErrorCode.Forbidden);
      expect(forged.body.detail).toMatch(new RegExp(`"${victim.id}" has not consented to this site: its enrolment its signature does not verify with "${victim.id}"'s published signing key`));
      // The same, through a site operator account the admin created for the victim's organisation.
      const puppet = await createUser(h(), victim.id, UserRole.SiteOperator);
      expectProblem(await register(puppet.token, await signSiteEnrolment(impostor, collab.id)), 403, ErrorCode.Forbidden);
      // Another organisation's genuine enrolment, presented for the victim.
      const other = await createOrg(h());
      const borrowed = await register(h().adminToken, await signSiteEnrolment(other.keys, collab.id));
      expectProblem(borrowed, 403, ErrorCode.Forbidden);
      // The victim's own enrolment, but for another collaboration, or signed long ago.
      const elsewhere = await register(h().adminToken, await signSiteEnrolment(victim.keys, crypto.randomUUID()));
      expect(elsewhere.body.detail).toMatch(/for another collaboration/);
      const stale = await register(h().adminToken, await signSiteEnrolment(victim.keys, collab.id, new Date(Date.now() - 20 * 60_000)));
      expectProblem(stale, 403, ErrorCode.Forbidden);
      expect(stale.body.detail).toMatch(/expired/);
      // Nothing was registered, and no audit event claims otherwise.
      expect((await call(h().app, 'GET', '/v1/sites', { token: h().adminToken })).body.sites.filter((s: { orgId: string }) => s.orgId === victim.id)).toEqual([]);
      // With its consent, it joins; the enrolment is kept as evidence.
      const enrolment = await signSiteEnrolment(victim.keys, collab.id);
      const joined = await register(puppet.token, enrolment);
      expect(joined.status).toBe(201);
      const stored = await h().database.db.query.sites.findFirst({ where: (s, { eq }) => eq(s.id, joined.body.site.id) });
      expect(stored!.enrolment).toBe(enrolment);
    });

    it('refuses an enrolment of an organisation that published no signing key', async () => {
      const keyless = await createOrg(h(), { keys: false });
      const collab = await createCollaboration(h(), [keyless.id]);
      const res = await call(h().app, 'POST', '/v1/sites', { token: h().adminToken, body: { collaborationId: collab.id, orgId: keyless.id, enrolment: await signSiteEnrolment(keyless.keys, collab.id) } });
      expectProblem(res, 409, ErrorCode.Conflict);
      expect(res.body.detail).toMatch(/no published signing key/);
    });

    it('refuses a second live site (409), a non-member organisation (409), an unknown collaboration (404)', async () => {
      const fed = await createFederation(h());
      const outsider = await createOrg(h());
      const operator = await createUser(h(), outsider.id, UserRole.SiteOperator);
      const again = await call(h().app, 'POST', '/v1/sites', { token: fed.operators[0]!.token, body: { collaborationId: fed.collaboration.id, orgId: fed.sites[0]!.id, enrolment: await signSiteEnrolment(fed.sites[0]!.keys, fed.collaboration.id) } });
      expectProblem(again, 409, ErrorCode.Conflict);
      expect(again.body.detail).toMatch(/Revoke it first/);
      const notMember = await call(h().app, 'POST', '/v1/sites', { token: operator.token, body: { collaborationId: fed.collaboration.id, orgId: outsider.id, enrolment: await signSiteEnrolment(outsider.keys, fed.collaboration.id) } });
      expectProblem(notMember, 409, ErrorCode.Conflict);
      expect(notMember.body.detail).toMatch(/not a member/);
      const unknown = crypto.randomUUID();
      expectProblem(await call(h().app, 'POST', '/v1/sites', { token: operator.token, body: { collaborationId: unknown, orgId: outsider.id, enrolment: await signSiteEnrolment(outsider.keys, unknown) } }), 404, ErrorCode.NotFound);
      const list = await call(h().app, 'GET', '/v1/sites', { token: operator.token });
      expect(list.body.sites).toEqual([]);
    });

    it('revokes a site: its credential stops working at once, and a new site may replace it', async () => {
      const fed = await createFederation(h());
      const token = fed.operators[0]!.token;
      const res = await call(h().app, 'POST', `/v1/sites/${fed.siteIds[0]}/revoke`, { token });
      expect(res.status).toBe(200);
      expect(res.body.revokedAt).toEqual(expect.any(String));
      expectProblem(await call(h().app, 'GET', `/v1/organisations/${fed.lab.id}/keys`, { token: fed.credentials[0] }), 401, ErrorCode.Unauthenticated);
      expectProblem(await call(h().app, 'POST', `/v1/sites/${fed.siteIds[0]}/revoke`, { token }), 409, ErrorCode.Conflict);
      const replacement = await registerSite(h(), token, fed.collaboration.id, fed.sites[0]!);
      expect((await call(h().app, 'GET', '/v1/sites/me', { token: replacement.credential })).status).toBe(200);
      const audit = await call(h().app, 'GET', `/v1/audit?targetId=${fed.siteIds[0]}`, { token: h().adminToken });
      expect(audit.body.events.map((e: { action: string }) => e.action)).toEqual(['site.register', 'site.revoke']);
    });

    it('lists an operator\'s own sites, an auditor those of its organisation\'s collaborations, and hides the rest', async () => {
      const fed = await createFederation(h());
      const auditor = await createUser(h(), fed.lab.id, UserRole.Auditor);
      const outsider = await createUser(h(), (await createOrg(h())).id, UserRole.Auditor);
      const own = await call(h().app, 'GET', '/v1/sites', { token: fed.operators[1]!.token });
      expect(own.body.sites.map((s: { id: string }) => s.id)).toEqual([fed.siteIds[1]]);
      const all = await call(h().app, 'GET', '/v1/sites', { token: auditor.token });
      expect(all.body.sites.map((s: { id: string }) => s.id).sort()).toEqual([...fed.siteIds].sort());
      expect((await call(h().app, 'GET', `/v1/sites/${fed.siteIds[0]}`, { token: auditor.token })).status).toBe(200);
      expect((await call(h().app, 'GET', '/v1/sites', { token: outsider.token })).body.sites).toEqual([]);
      expectProblem(await call(h().app, 'GET', `/v1/sites/${fed.siteIds[0]}`, { token: outsider.token }), 404, ErrorCode.NotFound);
      expectProblem(await call(h().app, 'GET', '/v1/sites/not-a-uuid', { token: auditor.token }), 400, ErrorCode.InvalidInput);
      expectProblem(await call(h().app, 'GET', `/v1/sites/${crypto.randomUUID()}`, { token: auditor.token }), 404, ErrorCode.NotFound);
    });
  });
}
