/**
 * A snapshot of a freshly migrated, empty PGlite database, kept in a cache directory so that an
 * in-memory database (the demo's) starts from it instead of from initdb and every migration:
 * PGlite's initdb is most of its start-up (seconds on a busy machine), loading a data directory
 * a fraction of it (issue 17). The snapshot's name carries a digest of PGlite's version and of
 * the committed migrations, so a changed schema or PGlite never starts from a stale one; the
 * migrations still run after loading it (none is left to apply), so a stale snapshot could only
 * cost time, never the schema.
 *
 * The snapshot holds the schema only: no user, key or run is in it (the caller opens it before
 * anything is written). It holds the `postgres` database alone, with 1 MiB WAL segments
 * (db/client.ts): the template databases, which only CREATE DATABASE reads and Parley never runs,
 * and a 16 MiB WAL segment were three quarters of its bytes, each copied several times on load.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { PGlite } from '@electric-sql/pglite';

/** The snapshot's file for this PGlite and these migrations. */
export async function snapshotFile(cacheDir: string, migrationsDir: string): Promise<string> {
  const hash = createHash('sha256');
  hash.update(`pglite ${await pgliteVersion()}\n`);
  // What the snapshot is made of (writeSnapshot): a snapshot made otherwise has another name.
  hash.update('postgres database only, 1 MiB WAL segments\n');
  for (const name of (await readdir(migrationsDir)).filter((n) => n.endsWith('.sql')).sort()) {
    hash.update(`${name}\n`).update(await readFile(join(migrationsDir, name))).update('\n');
  }
  hash.update(await readFile(join(migrationsDir, 'meta', '_journal.json')));
  return join(cacheDir, `pglite-${hash.digest('hex').slice(0, 24)}.tar`);
}

/** The installed PGlite's version, from its package.json (which the package does not export). */
async function pgliteVersion(): Promise<string> {
  let dir = dirname(createRequire(import.meta.url).resolve('@electric-sql/pglite'));
  for (;;) {
    const manifest = await readFile(join(dir, 'package.json'), 'utf8').then((text) => JSON.parse(text) as { name?: string; version?: string }, () => undefined);
    if (manifest?.name === '@electric-sql/pglite' && manifest.version) return manifest.version;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('PGlite\'s package.json was not found above its entry point.');
    dir = parent;
  }
}

/**
 * A Blob over bytes already in memory whose arrayBuffer() hands them over at once. PGlite reads a
 * data directory with arrayBuffer(), which for an ordinary Blob streams the bytes through in
 * small chunks and joins them: a fifth of the snapshot's load (issue 17). Every other method is
 * the ordinary Blob's, over the same bytes.
 */
class LoadedBlob extends Blob {
  readonly #bytes: Buffer;

  constructor(bytes: Buffer) {
    super([bytes]);
    this.#bytes = bytes;
  }

  override arrayBuffer(): Promise<ArrayBuffer> {
    const bytes = this.#bytes;
    return Promise.resolve(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
  }
}

/** The snapshot's bytes, or undefined when there is none (or it cannot be read). */
export async function readSnapshot(file: string): Promise<Blob | undefined> {
  try {
    return new LoadedBlob(await readFile(file));
  } catch {
    return undefined;
  }
}

/** Drops template0 and template1 (one statement each: DROP DATABASE runs outside a transaction). */
async function dropTemplateDatabases(client: PGlite): Promise<void> {
  await client.exec(`UPDATE pg_database SET datistemplate = false WHERE datname IN ('template0', 'template1')`);
  await client.exec('DROP DATABASE template0');
  await client.exec('DROP DATABASE template1');
  await client.exec('CHECKPOINT');
}

/**
 * Writes the database's data directory as the snapshot: to a temporary name, then renamed, so a
 * concurrent demo reads either no snapshot or a whole one. Best effort: a cache that cannot be
 * written only means the next start is slower.
 */
export async function writeSnapshot(client: PGlite, file: string, cacheDir: string): Promise<void> {
  const partial = `${file}.${randomBytes(6).toString('hex')}.partial`;
  try {
    await mkdir(cacheDir, { recursive: true, mode: 0o700 });
    // Only smaller when it works: a snapshot with the templates still loads.
    await dropTemplateDatabases(client).catch(() => undefined);
    // Uncompressed: loading a gzip snapshot costs more than reading the larger file.
    const dump = await client.dumpDataDir('none');
    await writeFile(partial, Buffer.from(await dump.arrayBuffer()), { mode: 0o600 });
    await rename(partial, file);
  } catch {
    await rm(partial, { force: true });
  }
}
