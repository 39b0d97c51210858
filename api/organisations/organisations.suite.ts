/**
 * Organisations and their public keys: registration by a server admin, reading by anyone
 * authenticated (site workers included), rotation with history by the organisation's operator.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../common/errors.ts';
import { generateOrgKeys, jwkThumbprint, parseOrgPublicKeys, publicKeysOf } from '../../crypto/index.ts';
import { UserRole } from '../../common/roles.ts';
import { createFederation, createOrg, createUser, uid } from '../testing/fixtures.ts';
import type { Harness } from '../testing/harness.ts';
import { call, expectProblem } from '../testing/http.ts';

async function auditCount(h: Harness, targetId: string): Promise<number> {
  const res = await call(h.app, 'GET', `/v1/audit?targetId=${targetId}`, { token: h.adminToken });
  return res.body.events.length;
}

export function organisationsSuite(h: () => Harness): void {
  describe('/v1/organisations', () => {
    it('lets a server admin register an organisation with its keys, published with RFC 7638 thumbprints', async () => {
      const id = `org-${uid()}`;
      const keys = publicKeysOf(await generateOrgKeys(id));
      const res = await call(h().app, 'POST', '/v1/organisations', { token: h().adminToken, body: { id, name: `Org ${id}`, keys } });
      expect(res.status).toBe(201);
      expect(res.body).toMatchObject({ id, name: `Org ${id}`, keys: { receive: keys.receive, sign: keys.sign } });
      expect(res.body.keys.receive.thumbprint).toBe(await jwkThumbprint(keys.receive.jwk));
      const events = await call(h().app, 'GET', `/v1/audit?targetId=${id}`, { token: h().adminToken });
      expect(events.body.events).toMatchObject([{ action: 'organisation.create', actor: { kind: 'user', orgId: 'central' }, target: { kind: 'organisation', id } }]);
    });

    it('registers an organisation without keys, whose key set is then not found', async () => {
      const org = await createOrg(h(), { keys: false });
      const got = await call(h().app, 'GET', `/v1/organisations/${org.id}`, { token: h().adminToken });
      expect(got.body.keys).toEqual({ receive: null, sign: null });
      expectProblem(await call(h().app, 'GET', `/v1/organisations/${org.id}/keys`, { token: h().adminToken }), 404, ErrorCode.NotFound);
    });

    it('lets only a server admin register organisations', async () => {
      const fed = await createFederation(h());
      const auditor = await createUser(h(), fed.lab.id, UserRole.Auditor);
      const body = { id: `org-${uid()}`, name: 'Not allowed' };
      for (const token of [fed.researcher.token, fed.operators[0]!.token, auditor.token]) {
        expectProblem(await call(h().app, 'POST', '/v1/organisations', { token, body }), 403, ErrorCode.Forbidden);
      }
      expectProblem(await call(h().app, 'POST', '/v1/organisations', { token: fed.credentials[0], body }), 403, ErrorCode.Forbidden);
      expectProblem(await call(h().app, 'GET', `/v1/organisations/${body.id}`, { token: h().adminToken }), 404, ErrorCode.NotFound);
    });

    it('refuses a duplicate id or name with 409 and writes nothing', async () => {
      const org = await createOrg(h());
      const before = await auditCount(h(), org.id);
      const sameId = await call(h().app, 'POST', '/v1/organisations', { token: h().adminToken, body: { id: org.id, name: `Other ${uid()}` } });
      expectProblem(sameId, 409, ErrorCode.Conflict);
      expect(sameId.body.errors[0].field).toBe('id');
      const newId = `org-${uid()}`;
      const sameName = await call(h().app, 'POST', '/v1/organisations', { token: h().adminToken, body: { id: newId, name: `Organisation ${org.id}` } });
      expectProblem(sameName, 409, ErrorCode.Conflict);
      expect(sameName.body.errors[0].field).toBe('name');
      expect(await auditCount(h(), org.id)).toBe(before);
      expectProblem(await call(h().app, 'GET', `/v1/organisations/${newId}`, { token: h().adminToken }), 404, ErrorCode.NotFound);
    });

    it('answers concurrent registrations of one id with a single 201 and 409s, never a 500', async () => {
      const id = `org-${uid()}`;
      const answers = await Promise.all(Array.from({ length: 6 }, (_, i) =>
        call(h().app, 'POST', '/v1/organisations', { token: h().adminToken, body: { id, name: `Racing ${id} ${i}` } })));
      expect(answers.map((a) => a.status).sort()).toEqual([201, 409, 409, 409, 409, 409]);
      for (const answer of answers.filter((a) => a.status === 409)) expectProblem(answer, 409, ErrorCode.Conflict);
    });

    it('refuses a private key with a 400 that says private keys never go to the API', async () => {
      const id = `org-${uid()}`;
      const pair = await generateOrgKeys(id);
      const keys = publicKeysOf(pair);
      const body = { id, name: id, keys: { ...keys, sign: { jwk: pair.sign.privateJwk, thumbprint: keys.sign.thumbprint } } };
      const res = await call(h().app, 'POST', '/v1/organisations', { token: h().adminToken, body });
      expectProblem(res, 400, ErrorCode.InvalidInput);
      expect(res.body.errors).toContainEqual({ in: 'body', field: 'keys.sign.jwk.d', message: expect.stringContaining('never takes a private key') });
      expect(res.text).not.toContain(pair.sign.privateJwk.d);
      expectProblem(await call(h().app, 'GET', `/v1/organisations/${id}`, { token: h().adminToken }), 404, ErrorCode.NotFound);
    });

    it('refuses keys that would not verify or open: wrong kid, wrong kind, a point off the curve, another org', async () => {
      const id = `org-${uid()}`;
      const keys = publicKeysOf(await generateOrgKeys(id));
      const offCurve = { kty: 'EC', crv: 'P-256', x: 'A'.repeat(43), y: 'A'.repeat(43), alg: 'ES256', use: 'sig' };
      const bad = [
        { ...keys, receive: { jwk: { ...keys.receive.jwk, kid: keys.sign.jwk.kid } } },
        { ...keys, receive: keys.sign },
        { ...keys, sign: { jwk: { ...offCurve, kid: await jwkThumbprint(offCurve) } } },
      ];
      for (const candidate of bad) {
        const res = await call(h().app, 'POST', '/v1/organisations', { token: h().adminToken, body: { id, name: id, keys: candidate } });
        expectProblem(res, 400, res.body.code);
        expect([ErrorCode.KeyInvalid, ErrorCode.InvalidInput]).toContain(res.body.code);
        expect(res.body.errors[0].field).toMatch(/^keys\.(receive|sign)/);
      }
      const elsewhere = await call(h().app, 'POST', '/v1/organisations', { token: h().adminToken, body: { id, name: id, keys: { ...keys, org: 'someone-else' } } });
      expectProblem(elsewhere, 400, ErrorCode.InvalidInput);
      expectProblem(await call(h().app, 'GET', `/v1/organisations/${id}`, { token: h().adminToken }), 404, ErrorCode.NotFound);
    });

    it('serves current keys to any user and to site workers, in the form crypto/ parses', async () => {
      const fed = await createFederation(h());
      const target = fed.sites[1]!;
      const auditor = await createUser(h(), fed.lab.id, UserRole.Auditor);
      for (const token of [fed.researcher.token, fed.operators[0]!.token, auditor.token, fed.credentials[0]!]) {
        const res = await call(h().app, 'GET', `/v1/organisations/${target.id}/keys`, { token });
        expect(res.status).toBe(200);
        expect(parseOrgPublicKeys(res.body)).toEqual(publicKeysOf(target.keys));
      }
      const list = await call(h().app, 'GET', '/v1/organisations', { token: fed.credentials[2] });
      expect(list.body.organisations.map((o: { id: string }) => o.id)).toEqual(expect.arrayContaining([fed.lab.id, target.id]));
      const one = await call(h().app, 'GET', `/v1/organisations/${target.id}`, { token: fed.credentials[2] });
      expect(one.body).toMatchObject({ id: target.id, keys: { sign: { thumbprint: target.keys.sign.publicJwk.kid } } });
    });

    it('answers an unknown organisation with 404 and a malformed id with 400', async () => {
      expectProblem(await call(h().app, 'GET', '/v1/organisations/no-such-org', { token: h().adminToken }), 404, ErrorCode.NotFound);
      expectProblem(await call(h().app, 'GET', '/v1/organisations/no-such-org/keys/history', { token: h().adminToken }), 404, ErrorCode.NotFound);
      expectProblem(await call(h().app, 'GET', `/v1/organisations/no-such-org/keys/${'A'.repeat(43)}`, { token: h().adminToken }), 404, ErrorCode.NotFound);
      expectProblem(await call(h().app, 'GET', '/v1/organisations/NOT_A_SLUG', { token: h().adminToken }), 400, ErrorCode.InvalidInput);
      expectProblem(await call(h().app, 'GET', '/v1/organisations/abc/keys/short', { token: h().adminToken }), 400, ErrorCode.InvalidInput);
    });

    it('lets the organisation\'s site operator rotate its keys, keeping the old ones for old envelopes', async () => {
      const fed = await createFederation(h());
      const org = fed.sites[0]!;
      const next = publicKeysOf(await generateOrgKeys(org.id));
      const rotated = { receive: next.receive, sign: publicKeysOf(org.keys).sign };
      const res = await call(h().app, 'POST', `/v1/organisations/${org.id}/keys`, { token: fed.operators[0]!.token, body: rotated });
      expect(res.status).toBe(200);
      expect(res.body.keys.receive.thumbprint).toBe(next.receive.thumbprint);
      expect(res.body.keys.sign.thumbprint).toBe(org.keys.sign.publicJwk.kid);

      const history = await call(h().app, 'GET', `/v1/organisations/${org.id}/keys/history`, { token: fed.credentials[1] });
      expect(history.body.keys).toHaveLength(3);
      const old = history.body.keys.find((k: { thumbprint: string }) => k.thumbprint === org.keys.receive.publicJwk.kid);
      expect(old).toMatchObject({ use: 'receive', retiredAt: expect.any(String) });
      const byThumbprint = await call(h().app, 'GET', `/v1/organisations/${org.id}/keys/${org.keys.receive.publicJwk.kid}`, { token: fed.credentials[1] });
      expect(byThumbprint.body).toMatchObject({ use: 'receive', jwk: org.keys.receive.publicJwk, retiredAt: expect.any(String) });
      const current = await call(h().app, 'GET', `/v1/organisations/${org.id}/keys`, { token: fed.credentials[1] });
      expect(current.body.receive.thumbprint).toBe(next.receive.thumbprint);
      const audit = await call(h().app, 'GET', `/v1/audit?targetId=${org.id}&targetKind=organisation`, { token: h().adminToken });
      expect(audit.body.events.at(-1)).toMatchObject({ action: 'organisation.keys-rotate', details: { rotated: 'receive' } });
    });

    it('lets no one else rotate an organisation\'s keys', async () => {
      const fed = await createFederation(h());
      const org = fed.sites[0]!;
      const next = publicKeysOf(await generateOrgKeys(org.id));
      for (const token of [fed.operators[1]!.token, fed.researcher.token, h().adminToken, fed.credentials[0]!]) {
        expectProblem(await call(h().app, 'POST', `/v1/organisations/${org.id}/keys`, { token, body: next }), 403, ErrorCode.Forbidden);
      }
      const history = await call(h().app, 'GET', `/v1/organisations/${org.id}/keys/history`, { token: h().adminToken });
      expect(history.body.keys).toHaveLength(2);
    });

    it('refuses a rotation that changes nothing, or brings back a retired key, with 409', async () => {
      const fed = await createFederation(h());
      const org = fed.sites[0]!;
      const token = fed.operators[0]!.token;
      const original = publicKeysOf(org.keys);
      expectProblem(await call(h().app, 'POST', `/v1/organisations/${org.id}/keys`, { token, body: original }), 409, ErrorCode.Conflict);
      const next = publicKeysOf(await generateOrgKeys(org.id));
      expect((await call(h().app, 'POST', `/v1/organisations/${org.id}/keys`, { token, body: next })).status).toBe(200);
      const back = await call(h().app, 'POST', `/v1/organisations/${org.id}/keys`, { token, body: original });
      expectProblem(back, 409, ErrorCode.Conflict);
      expect(back.body.detail).toMatch(/never reused/);
      const current = await call(h().app, 'GET', `/v1/organisations/${org.id}/keys`, { token });
      expect(current.body.receive.thumbprint).toBe(next.receive.thumbprint);
    });
  });
}
