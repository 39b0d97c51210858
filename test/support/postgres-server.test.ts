import { describe, expect, it } from 'vitest';
import postgres from 'postgres';
import { startTestPostgres } from './postgres-server.ts';

describe('the throwaway PostgreSQL for tests', () => {
  it('fails, saying how to install PostgreSQL 15, when its binaries are missing', async () => {
    await expect(startTestPostgres({ bin: '/nonexistent/postgresql/bin' })).rejects.toThrow(/apt-get install postgresql-15/);
  });

  it('starts a cluster, creates empty databases on it, and removes everything when stopped', async () => {
    const server = await startTestPostgres({});
    const url = await server.createDatabase();
    const sql = postgres(url, { max: 1 });
    try {
      const [row] = await sql`select current_setting('server_version_num')::int as version, current_user as who`;
      expect(row).toMatchObject({ who: 'postgres' });
      expect(row!.version).toBeGreaterThanOrEqual(150000);
    } finally {
      await sql.end();
      await server.stop();
    }
    const gone = postgres(url, { max: 1, connect_timeout: 2 });
    await expect(gone`select 1`).rejects.toThrow();
    await gone.end();
  });
});
