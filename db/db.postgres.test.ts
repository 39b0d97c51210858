/**
 * The database suite on real PostgreSQL through postgres.js: a throwaway cluster, or DATABASE_URL.
 */
import { openDatabase } from './client.ts';
import { dbSuite } from './db.suite.ts';
import { startTestPostgres } from '../test/support/postgres-server.ts';

dbSuite(async () => {
  const server = await startTestPostgres();
  const url = await server.createDatabase();
  return { open: () => openDatabase({ url }), dispose: () => server.stop() };
});
