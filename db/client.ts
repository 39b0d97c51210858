/**
 * The one database factory. PGlite (embedded PostgreSQL) by default — in a data directory under
 * the state directory, or in memory when none is given — and real PostgreSQL through postgres.js
 * when a URL is given. Either way the committed migrations are applied before it returns.
 * DATABASE_URL is read by callers at the process edge, not here.
 */
import { mkdir, rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import type { ExtractTablesWithRelations } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT, PgTransaction } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import { readSnapshot, snapshotFile, writeSnapshot } from './pglite-snapshot.ts';
import * as schema from './schema.ts';

/** Parley's schema, as Drizzle sees it. */
export type Schema = typeof schema;

/** A Drizzle database over either driver; code above db/ never needs to know which. */
export type Database = PgDatabase<PgQueryResultHKT, Schema>;

/** An open transaction on a Database. */
export type Transaction = PgTransaction<PgQueryResultHKT, Schema, ExtractTablesWithRelations<Schema>>;

/** Where statements can run: the database itself or a transaction on it. */
export type Executor = Database | Transaction;

/** Where the data lives; with neither, an in-memory PGlite that vanishes on close. */
export interface OpenDatabaseOptions {
  /** A PostgreSQL connection string: use postgres.js against that server. */
  url?: string;
  /** A directory for PGlite's files (created if missing); ignored when `url` is given. */
  dataDir?: string;
  /**
   * In-memory PGlite only: a cache directory where a snapshot of the migrated, empty database is
   * kept (db/pglite-snapshot.ts) and started from, which saves initdb. Made on first use.
   */
  snapshotCacheDir?: string;
}

/** An open, migrated database and the way to release it. */
export interface OpenedDatabase {
  db: Database;
  driver: 'pglite' | 'postgres';
  /** Closes the connection(s); the database is unusable afterwards. */
  close(): Promise<void>;
}

const MIGRATIONS = fileURLToPath(new URL('./migrations', import.meta.url));

/**
 * An in-memory database holds a server's small state for one process (the demo's, a test's): 16 MiB
 * of shared buffers (2,048 pages) hold all of it. PostgreSQL's default of 128 MiB is zero-filled at
 * every start inside PGlite's WebAssembly memory, which was a third of the demo database's start
 * (issue 17).
 */
const IN_MEMORY_START_PARAMS = [...PGlite.defaultStartParams, '-c', 'shared_buffers=16MB'];
/** WAL segments of 1 MiB rather than 16: an in-memory database writes little, and its snapshot is smaller. */
const IN_MEMORY_INITDB_PARAMS = ['--wal-segsize=1'];

/**
 * Opens the database and applies any migrations not yet applied.
 * Throws the driver's error when the server is unreachable or a migration fails; the
 * connection is closed before rethrowing.
 */
export async function openDatabase(options: OpenDatabaseOptions = {}): Promise<OpenedDatabase> {
  return options.url === undefined ? openPglite(options.dataDir, options.snapshotCacheDir) : openPostgres(options.url);
}

async function openPglite(dataDir: string | undefined, snapshotCacheDir: string | undefined): Promise<OpenedDatabase> {
  if (dataDir !== undefined) await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const snapshot = dataDir === undefined && snapshotCacheDir !== undefined ? await snapshotFile(snapshotCacheDir, MIGRATIONS) : undefined;
  const loadDataDir = snapshot === undefined ? undefined : await readSnapshot(snapshot);
  const client = dataDir !== undefined ? new PGlite(dataDir) : new PGlite({ startParams: IN_MEMORY_START_PARAMS, ...(loadDataDir ? { loadDataDir } : { initDbStartParams: IN_MEMORY_INITDB_PARAMS }) });
  const db = drizzlePglite({ client, schema });
  try {
    // Also after a snapshot: it applies nothing then, and whatever the snapshot lacks, it adds.
    await migratePglite(db, { migrationsFolder: MIGRATIONS });
  } catch (err) {
    await client.close().catch(() => undefined);
    if (!loadDataDir) throw err;
    // A damaged snapshot: start without it, and make it anew.
    await rm(snapshot!, { force: true });
    return openPglite(dataDir, snapshotCacheDir);
  }
  if (snapshot !== undefined && !loadDataDir) await writeSnapshot(client, snapshot, snapshotCacheDir!);
  return { db: db as unknown as Database, driver: 'pglite', close: () => client.close() };
}

async function openPostgres(url: string): Promise<OpenedDatabase> {
  // Notices ("relation already exists, skipping" during migrations) are not worth a log line.
  const client = postgres(url, { max: 10, onnotice: () => {} });
  const db = drizzlePostgres({ client, schema });
  try {
    await migratePostgres(db, { migrationsFolder: MIGRATIONS });
  } catch (err) {
    await client.end({ timeout: 5 });
    throw err;
  }
  return {
    db: db as unknown as Database,
    driver: 'postgres',
    close: () => client.end({ timeout: 5 }),
  };
}
