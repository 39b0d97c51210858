/**
 * The database itself, on whichever driver the runner file chooses: migrations from empty, the
 * append-only audit trail, and the constraints the API relies on to turn races into 409s.
 */
import { readFile } from 'node:fs/promises';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database, OpenedDatabase } from './client.ts';
import { PgCode, isUniqueViolation, pgErrorOf } from './pg-error.ts';
import { auditEvents, collaborations, orgKeys, organisations, sites, users } from './schema.ts';

/** A place a database can be opened (and reopened) at, and how to clean it up. */
export interface DbLocation {
  open(): Promise<OpenedDatabase>;
  dispose(): Promise<void>;
}

const TABLES = ['audit_events', 'collaboration_members', 'collaborations', 'org_keys', 'organisations', 'revoked_tokens', 'runs', 'sites', 'users'];

async function rows<T>(db: Database, query: ReturnType<typeof sql>): Promise<T[]> {
  const result = await db.execute(query);
  return (Array.isArray(result) ? result : (result as unknown as { rows: T[] }).rows) as T[];
}

async function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(() => undefined, (err: unknown) => err);
}

const JWK = { kty: 'OKP', crv: 'X25519', x: 'x' };

/** Registers the database suite; `fresh` gives an empty location per call. */
export function dbSuite(fresh: () => Promise<DbLocation>): void {
  describe('database', () => {
    let location: DbLocation;
    let opened: OpenedDatabase;
    beforeAll(async () => {
      location = await fresh();
      opened = await location.open();
    });
    afterAll(async () => {
      await opened?.close();
      await location?.dispose();
    });

    it('applies every committed migration to an empty database', async () => {
      const tables = await rows<{ table_name: string }>(opened.db, sql`select table_name from information_schema.tables where table_schema = 'public' order by table_name`);
      expect(tables.map((t) => t.table_name)).toEqual(TABLES);
      const journal = JSON.parse(await readFile(new URL('./migrations/meta/_journal.json', import.meta.url), 'utf8')) as { entries: unknown[] };
      const applied = await rows<{ n: number }>(opened.db, sql`select count(*)::int as n from drizzle.__drizzle_migrations`);
      expect(applied[0]!.n).toBe(journal.entries.length);
      const triggers = await rows<{ tgname: string }>(opened.db, sql`select tgname from pg_trigger where tgrelid = 'audit_events'::regclass and not tgisinternal order by tgname`);
      expect(triggers.map((t) => t.tgname)).toEqual(['audit_events_no_truncate', 'audit_events_no_update_delete']);
    });

    it('applies migrations only once: reopening keeps the data', async () => {
      await opened.db.insert(organisations).values({ id: 'kept', name: 'Kept' });
      await opened.close();
      opened = await location.open();
      expect(await opened.db.select().from(organisations)).toMatchObject([{ id: 'kept', name: 'Kept' }]);
    });

    it('refuses UPDATE, DELETE and TRUNCATE on the audit trail', async () => {
      await opened.db.insert(auditEvents).values({ actorKind: 'system', action: 'test.append', targetKind: 'test', targetId: '1' });
      for (const attempt of [
        opened.db.update(auditEvents).set({ action: 'test.rewritten' }),
        opened.db.delete(auditEvents),
        opened.db.execute(sql`truncate audit_events`),
      ]) {
        expect(pgErrorOf(await failure(attempt))?.code).toBe(PgCode.RestrictViolation);
      }
      expect(await opened.db.select({ action: auditEvents.action }).from(auditEvents)).toContainEqual({ action: 'test.append' });
    });

    it('reports unique violations with their constraint names', async () => {
      const { db } = opened;
      await db.insert(organisations).values({ id: 'uniq', name: 'Unique' });
      const sameName = await failure(db.insert(organisations).values({ id: 'uniq-2', name: 'Unique' }));
      expect(isUniqueViolation(sameName, 'organisations_name_unique')).toBe(true);
      const sameId = await failure(db.insert(organisations).values({ id: 'uniq', name: 'Other' }));
      expect(isUniqueViolation(sameId, 'organisations_pkey')).toBe(true);
      await db.insert(users).values({ username: 'dup', orgId: 'uniq', role: 'auditor', passwordHash: 'scrypt$x' });
      expect(isUniqueViolation(await failure(db.insert(users).values({ username: 'dup', orgId: 'uniq', role: 'auditor', passwordHash: 'scrypt$y' })), 'users_username_unique')).toBe(true);
      await db.insert(collaborations).values({ name: 'Dup' });
      expect(isUniqueViolation(await failure(db.insert(collaborations).values({ name: 'Dup' })), 'collaborations_name_unique')).toBe(true);
    });

    it('keeps one current key per use, and any number of retired ones', async () => {
      const { db } = opened;
      await db.insert(organisations).values({ id: 'keyed', name: 'Keyed' });
      await db.insert(orgKeys).values({ orgId: 'keyed', use: 'receive', jwk: JWK, thumbprint: 't1' });
      expect(isUniqueViolation(await failure(db.insert(orgKeys).values({ orgId: 'keyed', use: 'receive', jwk: JWK, thumbprint: 't2' })), 'org_keys_current_unique')).toBe(true);
      await db.update(orgKeys).set({ retiredAt: new Date() }).where(sql`${orgKeys.thumbprint} = 't1'`);
      await db.insert(orgKeys).values({ orgId: 'keyed', use: 'receive', jwk: JWK, thumbprint: 't2' });
      expect(isUniqueViolation(await failure(db.insert(orgKeys).values({ orgId: 'keyed', use: 'sign', jwk: JWK, thumbprint: 't1' })), 'org_keys_thumbprint_unique')).toBe(true);
    });

    it('keeps one live site per organisation per collaboration; a revoked one may be replaced', async () => {
      const { db } = opened;
      await db.insert(organisations).values({ id: 'sited', name: 'Sited' });
      const [collab] = await db.insert(collaborations).values({ name: 'Sited study' }).returning();
      const [site] = await db.insert(sites).values({ collaborationId: collab!.id, orgId: 'sited', credentialHash: 'h1' }).returning();
      expect(isUniqueViolation(await failure(db.insert(sites).values({ collaborationId: collab!.id, orgId: 'sited', credentialHash: 'h2' })), 'sites_live_unique')).toBe(true);
      await db.update(sites).set({ revokedAt: new Date() }).where(sql`${sites.id} = ${site!.id}`);
      await db.insert(sites).values({ collaborationId: collab!.id, orgId: 'sited', credentialHash: 'h2' });
    });

    it('refuses values outside the closed sets and references to nothing', async () => {
      const { db } = opened;
      const badRole = await failure(db.insert(users).values({ username: 'bad-role', orgId: 'uniq', role: 'root' as 'admin', passwordHash: 'x' }));
      expect(pgErrorOf(badRole)?.code).toBe(PgCode.CheckViolation);
      const noOrg = await failure(db.insert(users).values({ username: 'orphan', orgId: 'no-such-org', role: 'admin', passwordHash: 'x' }));
      expect(pgErrorOf(noOrg)?.code).toBe(PgCode.ForeignKeyViolation);
    });
  });
}
