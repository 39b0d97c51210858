/**
 * The central process's API part: the database (PGlite under the state directory, or PostgreSQL
 * when a URL is given), the first admin, and the HTTP server over a Temporal client. Used by
 * `parley server start` and by the demo.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, open, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { createApp, createJsonLogger, ensureAdmin, silentLogger, startServer, createTemporalRunLauncher, type ScryptCost } from './index.ts';
import { openDatabase, type OpenedDatabase } from '../db/client.ts';
import { createBlobDir } from './blobs/blob-dir.ts';
import type { BlobBackend } from './blobs/blob-backend.ts';
import { checkS3BlobStore, createS3BlobBackend } from './blobs/blob-s3.ts';
import type { S3BlobConfig } from './blobs/s3-config.ts';
import { createS3Client } from './blobs/s3/s3-client.ts';
import { deferredRunLauncher } from './runs/launcher.ts';
import { DEFAULT_BLOB_RETENTION_MS, startBlobSweeper, sweepRunBlobs } from './blobs/blob-retention.ts';
import { ErrorCode, ParleyError } from '../common/errors.ts';

export interface CentralServerOptions {
  /** Holds the PGlite data (unless databaseUrl) and the token secret. */
  stateDir: string;
  /** PostgreSQL via postgres.js when set; PGlite under stateDir otherwise. */
  databaseUrl?: string;
  /** PGlite in memory, for a server whose state is thrown away anyway (the demo's). */
  inMemory?: boolean;
  /** With inMemory: where the migrated empty database's snapshot is cached (db/pglite-snapshot.ts). */
  snapshotCacheDir?: string;
  /** The database and first admin, when the caller began opening them early (openCentralDatabase). */
  database?: Promise<CentralDatabase>;
  /** The Temporal client; a promise while its server still starts (runs wait for it, nothing else does). */
  temporal: Client | Promise<Client>;
  port?: number;
  hostname?: string;
  /** The first admin's password; when absent and no admin exists, one is generated and returned. */
  adminPassword?: string;
  /** Structured request logs on stderr (default) or none (the demo keeps its output clean). */
  quiet?: boolean;
  passwordCost?: ScryptCost;
  /** How long a run's blobs outlive the run (api/blobs/blob-retention.ts). Default 7 days. */
  blobRetentionMs?: number;
  /** How often ended runs' blobs are looked for. Default 60 s. */
  blobSweepIntervalMs?: number;
  /**
   * Keep blobs in this S3-compatible store (api/blobs/s3-config.ts reads it from the
   * environment) rather than under stateDir/blobs. Checked before the server listens.
   */
  s3?: S3BlobConfig;
}

export interface CentralServer {
  url: string;
  admin: { username: string; orgId: string; /** Only when this start created the admin. */ password?: string };
  /** Removes the blobs of runs past their retention now, rather than at the next sweep; returns those runs. */
  sweepBlobs(): Promise<string[]>;
  close(): Promise<void>;
}

export const ADMIN_USERNAME = 'admin';
export const CENTRAL_ORG = 'central';

/**
 * The access-token key, kept in a 0600 file so tokens outlive a restart; created on first start.
 * Never logged. Throws KeyInvalid when the file is readable by others.
 */
async function tokenSecret(stateDir: string): Promise<Uint8Array> {
  const file = join(stateDir, 'token-secret');
  try {
    const { mode } = await stat(file);
    if ((mode & 0o077) !== 0) {
      throw new ParleyError(ErrorCode.KeyInvalid, `${file} is readable by other users. Run: chmod 600 ${file}`, { path: file });
    }
    const secret = Buffer.from((await readFile(file, 'utf8')).trim(), 'base64url');
    if (secret.length >= 32) return secret;
    throw new ParleyError(ErrorCode.KeyInvalid, `${file} holds fewer than 32 bytes. Remove it to have a new one made (signed-in users must sign in again).`, { path: file });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const secret = randomBytes(32);
  const handle = await open(file, 'wx', 0o600);
  try {
    await handle.writeFile(`${secret.toString('base64url')}\n`);
  } finally {
    await handle.close();
  }
  await chmod(file, 0o600);
  return secret;
}

/** Starts the API; on failure, closes whatever it had opened. */
/** The central database, open and migrated, with its first admin. */
export interface CentralDatabase {
  database: OpenedDatabase;
  /** The admin's password when this start created the admin. */
  createdPassword?: string;
}

type CentralDatabaseOptions = Pick<CentralServerOptions, 'stateDir' | 'databaseUrl' | 'inMemory' | 'snapshotCacheDir' | 'adminPassword' | 'passwordCost'>;

/**
 * The part of the server's start that needs no Temporal: opens and migrates the database and
 * ensures its first admin (a password hash). A caller may begin it early and hand the promise
 * to startCentralServer (the demo does, while the Temporal dev server starts).
 */
export async function openCentralDatabase(options: CentralDatabaseOptions): Promise<CentralDatabase> {
  await mkdir(options.stateDir, { recursive: true, mode: 0o700 });
  const database = await openDatabase(
    options.databaseUrl ? { url: options.databaseUrl } : options.inMemory ? (options.snapshotCacheDir ? { snapshotCacheDir: options.snapshotCacheDir } : {}) : { dataDir: join(options.stateDir, 'db') },
  );
  try {
    const generated = options.adminPassword ? undefined : randomBytes(18).toString('base64url');
    const password = options.adminPassword ?? generated!;
    const { created } = await ensureAdmin(database.db, {
      orgId: CENTRAL_ORG,
      orgName: 'Central server',
      username: ADMIN_USERNAME,
      password,
      ...(options.passwordCost ? { passwordCost: options.passwordCost } : {}),
    });
    return { database, ...(created ? { createdPassword: password } : {}) };
  } catch (err) {
    await database.close();
    throw err;
  }
}

/**
 * The blob store the options choose: the S3 store, once it answered a listing and let a probe
 * object be written and removed; else files under the state directory.
 * @throws S3StoreError naming the endpoint and bucket, what failed and what to do.
 */
async function openBlobStore(options: CentralServerOptions): Promise<BlobBackend> {
  if (options.s3 === undefined) return createBlobDir(join(options.stateDir, 'blobs'));
  const client = createS3Client(options.s3);
  await checkS3BlobStore(client, options.s3.prefix);
  return createS3BlobBackend(client, options.s3.prefix);
}

export async function startCentralServer(options: CentralServerOptions): Promise<CentralServer> {
  const { database, createdPassword } = await (options.database ?? openCentralDatabase(options));
  try {
    const blobs = await openBlobStore(options);
    const logger = options.quiet ? silentLogger : createJsonLogger();
    const runs = options.temporal instanceof Promise ? deferredRunLauncher(options.temporal) : createTemporalRunLauncher(options.temporal);
    const app = createApp({
      db: database.db,
      tokenSecret: await tokenSecret(options.stateDir),
      runs,
      logger,
      blobStore: blobs,
      ...(options.passwordCost ? { passwordCost: options.passwordCost } : {}),
    });
    const server = await startServer(app, { port: options.port ?? 0, hostname: options.hostname ?? '127.0.0.1' });
    const sweepDeps = { blobs, runs, retentionMs: options.blobRetentionMs ?? DEFAULT_BLOB_RETENTION_MS, now: () => new Date(), logger };
    const sweeper = startBlobSweeper(sweepDeps, options.blobSweepIntervalMs ?? 60_000);
    return {
      url: server.url,
      admin: { username: ADMIN_USERNAME, orgId: CENTRAL_ORG, ...(createdPassword !== undefined ? { password: createdPassword } : {}) },
      sweepBlobs: () => sweepRunBlobs(sweepDeps),
      async close() {
        await sweeper.stop();
        await server.close();
        await database.close();
      },
    };
  } catch (err) {
    await database.close();
    throw err;
  }
}
