/**
 * The database suite on PGlite, in a data directory so that reopening is real.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from './client.ts';
import { dbSuite } from './db.suite.ts';

dbSuite(async () => {
  const dir = await mkdtemp(join(tmpdir(), 'parley-pglite-'));
  const dataDir = join(dir, 'db');
  return { open: () => openDatabase({ dataDir }), dispose: () => rm(dir, { recursive: true, force: true }) };
});
