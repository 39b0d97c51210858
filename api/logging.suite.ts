/**
 * The log holds ids, routes, statuses and durations — never a password, token, site credential or
 * private key, whatever happens: logins that work and fail, registrations, key publication, bad
 * input, and an unexpected database failure.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { generateOrgKeys, publicKeysOf, signSiteEnrolment } from '../crypto/index.ts';
import { openDatabase } from '../db/client.ts';
import { UserRole } from '../common/roles.ts';
import { createJsonLogger } from './logger.ts';
import { createCollaboration, uid } from './testing/fixtures.ts';
import type { Harness } from './testing/harness.ts';
import { ADMIN } from './testing/harness.ts';
import { call } from './testing/http.ts';

export function loggingSuite(h: () => Harness): void {
  describe('logging', () => {
    const written: string[] = [];
    beforeEach(() => {
      written.length = 0;
      // Everything any part writes to the console or the standard streams is captured too.
      const capture = (chunk: unknown) => {
        written.push(String(chunk));
        return true;
      };
      vi.spyOn(process.stdout, 'write').mockImplementation(capture);
      vi.spyOn(process.stderr, 'write').mockImplementation(capture);
      for (const level of ['log', 'info', 'warn', 'error', 'debug'] as const) {
        vi.spyOn(console, level).mockImplementation((...args: unknown[]) => void written.push(args.map(String).join(' ')));
      }
    });
    afterEach(() => vi.restoreAllMocks());

    it('never logs a password, token, site credential or private key', async () => {
      const app = h().makeApp({ logger: createJsonLogger((line) => written.push(line)) });
      const secrets: string[] = [ADMIN.password];
      const send = (method: string, path: string, options: Parameters<typeof call>[3] = {}) => call(app, method, path, options);

      const adminLogin = await send('POST', '/v1/login', { body: { username: ADMIN.username, password: ADMIN.password } });
      const admin = adminLogin.body.accessToken as string;
      secrets.push(admin);
      const id = `log-${uid()}`;
      const keys = await generateOrgKeys(id);
      secrets.push(keys.receive.privateJwk.d, keys.sign.privateJwk.d);
      await send('POST', '/v1/organisations', { token: admin, body: { id, name: id, keys: { ...publicKeysOf(keys), sign: { jwk: keys.sign.privateJwk } } } });
      await send('POST', '/v1/organisations', { token: admin, body: { id, name: id, keys: publicKeysOf(keys) } });
      const password = `operator-${uid()}-passphrase`;
      secrets.push(password);
      await send('POST', '/v1/users', { token: admin, body: { username: `op-${id}`, password, orgId: id, role: UserRole.SiteOperator } });
      const wrongPassword = `wrong-${uid()}-guess`;
      secrets.push(wrongPassword);
      await send('POST', '/v1/login', { body: { username: `op-${id}`, password: wrongPassword } });
      await send('POST', '/v1/login', { body: { username: 'no-such-user', password: wrongPassword } });
      const operator = (await send('POST', '/v1/login', { body: { username: `op-${id}`, password } })).body.accessToken as string;
      secrets.push(operator);
      const collab = await createCollaboration(h(), [id]);
      const enrolment = await signSiteEnrolment(keys, collab.id);
      const site = await send('POST', '/v1/sites', { token: operator, body: { collaborationId: collab.id, orgId: id, enrolment } });
      const credential = site.body.credential as string;
      secrets.push(credential);
      await send('GET', `/v1/organisations/${id}/keys`, { token: credential });
      await send('GET', `/v1/organisations/${id}/keys?token=${credential}`, { token: credential });
      await send('POST', `/v1/sites/${site.body.site.id}/revoke`, { token: operator });
      await send('GET', '/v1/me', { token: credential });
      await send('POST', '/v1/users', { token: admin, body: { username: 'x', password: `${password}-bad`, orgId: id, role: 'root' } });

      // An unexpected failure: the database goes away under a request that carries a password.
      const doomed = await openDatabase();
      const broken = h().makeApp({ db: doomed.db, logger: createJsonLogger((line) => written.push(line)) });
      await doomed.close();
      const failed = await call(broken, 'POST', '/v1/login', { body: { username: ADMIN.username, password: ADMIN.password } });
      expect(failed.status).toBe(500);
      expect(failed.body).toEqual({ type: 'about:blank', title: 'Internal server error', status: 500 });

      expect(written.length).toBeGreaterThan(10);
      expect(written.some((line) => line.includes('"msg":"request failed"'))).toBe(true);
      const leaks = written.filter((line) => secrets.some((secret) => line.includes(secret)));
      expect(leaks).toEqual([]);
      expect(written.filter((line) => /scrypt\$|pst_|eyJ/.test(line))).toEqual([]);
    });
  });
}
