/**
 * Property-style: walks /openapi.json and throws generated bad requests at every operation, as
 * every kind of caller, expecting a 4xx problem document each time — never a 5xx — and no change
 * to any table.
 */
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { UserRole } from '../common/roles.ts';
import { FUZZ_NAME, badRequests, seededRandom } from './testing/bad-requests.ts';
import type { OpenApiDocument } from './testing/bad-requests.ts';
import { createFederation, createUser } from './testing/fixtures.ts';
import type { Harness } from './testing/harness.ts';
import { call } from './testing/http.ts';

const TABLES = ['organisations', 'org_keys', 'users', 'collaborations', 'collaboration_members', 'sites', 'runs', 'audit_events'];

async function tableCounts(h: Harness): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const table of TABLES) {
    const result = await h.database.db.execute(sql.raw(`select count(*)::int as n from ${table}`));
    const rows = (Array.isArray(result) ? result : (result as unknown as { rows: Array<{ n: number }> }).rows) as Array<{ n: number }>;
    out[table] = rows[0]!.n;
  }
  return out;
}

export function openApiFuzzSuite(h: () => Harness): void {
  describe('every operation in /openapi.json', () => {
    it('answers generated bad requests with a 4xx problem document, never a 5xx, and changes nothing', async () => {
      const seed = Number(process.env.PARLEY_FUZZ_SEED ?? Date.now() % 1_000_000);
      const random = seededRandom(seed);
      const fed = await createFederation(h());
      const auditor = await createUser(h(), fed.lab.id, UserRole.Auditor);
      // The login throttle would answer 429 to most of what follows; give the fuzz its own app.
      const app = h().makeApp({ loginLimit: { max: 1_000_000, windowSeconds: 1 } });
      const admin = h().adminToken;
      const tokens: Record<string, string | undefined> = {
        anonymous: undefined, garbage: 'garbage', admin, researcher: fed.researcher.token,
        operator: fed.operators[0]!.token, auditor: auditor.token, site: fed.credentials[0],
      };
      // What schema-valid requests name already exists, so they collide (409) instead of creating.
      await call(app, 'POST', '/v1/organisations', { token: admin, body: { id: FUZZ_NAME, name: 'Fuzz' } });
      await call(app, 'POST', '/v1/users', { token: admin, body: { username: FUZZ_NAME, password: 'fuzz-password-1', orgId: FUZZ_NAME, role: 'researcher' } });
      await call(app, 'POST', '/v1/collaborations', { token: admin, body: { name: 'x', members: [] } });
      const doc = (await call(app, 'GET', '/openapi.json')).body as OpenApiDocument;
      const before = await tableCounts(h());
      const failures: string[] = [];
      let sent = 0;
      for (const [template, operations] of Object.entries(doc.paths)) {
        for (const [method, operation] of Object.entries(operations)) {
          for (const request of badRequests(doc, template, operation, random)) {
            for (const [who, token] of Object.entries(tokens)) {
              const res = await call(app, method.toUpperCase(), request.path, { token, raw: request.body, contentType: request.contentType });
              sent += 1;
              const isProblem = res.status >= 400 && res.status < 500 && res.headers.get('content-type') === 'application/problem+json' && typeof res.body?.code === 'string';
              // A GET without a body may well succeed (a list, /healthz); anything else must be refused.
              const acceptable = isProblem || (method === 'get' && request.body === undefined && res.status < 300);
              if (!acceptable) failures.push(`${method.toUpperCase()} ${template} [${request.what}] as ${who}: ${res.status} ${res.text.slice(0, 120)}`);
            }
          }
        }
      }
      expect(sent).toBeGreaterThan(1000);
      expect(failures, `seed ${seed} (rerun with PARLEY_FUZZ_SEED=${seed})`).toEqual([]);
      expect(await tableCounts(h())).toEqual(before);
    });
  });
}
