/**
 * The API suites on real PostgreSQL through postgres.js: a throwaway cluster started by the
 * suite (test/support/postgres-server.ts), or the server at DATABASE_URL.
 */
import { afterAll } from 'vitest';
import { openDatabase } from '../db/client.ts';
import { startTestPostgres } from '../test/support/postgres-server.ts';
import type { TestPostgres } from '../test/support/postgres-server.ts';
import { registerApiSuites } from './api.suites.ts';
import { useApiHarness } from './testing/harness.ts';

let server: TestPostgres | undefined;
afterAll(async () => server?.stop());

registerApiSuites(useApiHarness('postgres', async () => {
  server = await startTestPostgres();
  return openDatabase({ url: await server.createDatabase() });
}));
