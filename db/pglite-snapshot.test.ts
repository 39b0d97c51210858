/**
 * The in-memory database started from a cached snapshot of the migrated schema (issue 17).
 */
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase } from './client.ts';
import { organisations } from './schema.ts';

let cacheDir: string;
beforeEach(async () => {
  cacheDir = await mkdtemp(join(tmpdir(), 'parley-snapshot-'));
});
afterEach(async () => {
  await rm(cacheDir, { recursive: true, force: true });
});

async function withDatabase<T>(use: (db: Awaited<ReturnType<typeof openDatabase>>['db']) => Promise<T>): Promise<T> {
  const opened = await openDatabase({ snapshotCacheDir: cacheDir });
  try {
    return await use(opened.db);
  } finally {
    await opened.close();
  }
}

describe('PGlite snapshot', () => {
  it('is made on first use and started from next time, migrated and holding nothing an earlier database wrote', async () => {
    await withDatabase((db) => db.insert(organisations).values({ id: 'north', name: 'North', createdAt: new Date() }));
    const files = await readdir(cacheDir);
    expect(files).toEqual([expect.stringMatching(/^pglite-[0-9a-f]{24}\.tar$/)]);
    const rows = await withDatabase(async (db) => {
      await db.insert(organisations).values({ id: 'south', name: 'South', createdAt: new Date() });
      return db.select({ id: organisations.id }).from(organisations);
    });
    expect(rows).toEqual([{ id: 'south' }]);
    expect(await readdir(cacheDir)).toEqual(files);
  });

  it('starts without a damaged snapshot and makes it anew', async () => {
    await withDatabase(async () => undefined);
    const [file] = await readdir(cacheDir);
    await writeFile(join(cacheDir, file!), 'not a data directory');
    const rows = await withDatabase((db) => db.select().from(organisations));
    expect(rows).toEqual([]);
    const rows2 = await withDatabase((db) => db.select().from(organisations));
    expect(rows2).toEqual([]);
    expect(await readdir(cacheDir)).toEqual([file]);
  });
});
