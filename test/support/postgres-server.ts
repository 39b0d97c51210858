/**
 * A throwaway PostgreSQL for tests: `initdb` into a temporary directory, `postgres` on a free
 * loopback port with its Unix socket inside that directory and trust authentication, stopped and
 * deleted afterwards. With DATABASE_URL set, that server is used instead (each test database is
 * created on it and dropped afterwards). PostgreSQL refuses to run as root, so as root the
 * cluster runs as the `postgres` OS user (setpriv), which owns the temporary directory.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { stopChild } from '../../provision/stop-child.ts';

/** PostgreSQL 15's server binaries on Debian and Ubuntu. */
export const POSTGRES_BIN = '/usr/lib/postgresql/15/bin';
const READY = /database system is ready to accept connections/;
const START_TIMEOUT_MS = 60_000;

/** A PostgreSQL server for one test file. */
export interface TestPostgres {
  /** Creates an empty database and returns its connection string. */
  createDatabase(): Promise<string>;
  /** Drops what createDatabase made; stops and deletes a throwaway cluster. */
  stop(): Promise<void>;
}

/** Where to find PostgreSQL; the defaults read DATABASE_URL and use POSTGRES_BIN. */
export interface TestPostgresOptions {
  /** A server to create test databases on instead of starting one. Default: DATABASE_URL. */
  url?: string;
  /** Directory of initdb and postgres. Default: POSTGRES_BIN. */
  bin?: string;
}

/**
 * Starts a throwaway cluster, or uses DATABASE_URL when set.
 *
 * @throws Error saying to run `apt-get install postgresql-15` when the binaries are missing, or
 *   with the server's last log lines when it does not start.
 */
export async function startTestPostgres(options: TestPostgresOptions = { url: process.env.DATABASE_URL }): Promise<TestPostgres> {
  if (options.url) return onServer(options.url, async () => {});
  const bin = options.bin ?? POSTGRES_BIN;
  for (const tool of ['initdb', 'postgres']) {
    if (!existsSync(join(bin, tool))) {
      throw new Error(`PostgreSQL 15 is not installed: ${join(bin, tool)} is missing. Run \`apt-get install postgresql-15\` (or set DATABASE_URL to a PostgreSQL server you can create databases on).`);
    }
  }
  const dir = await mkdtemp(join(tmpdir(), 'parley-pg-'));
  const owner = process.getuid?.() === 0 ? postgresUser() : undefined;
  if (owner) await chown(dir, owner.uid, owner.gid);
  const asOwner = (tool: string, args: string[]): [string, string[]] => owner
    ? ['setpriv', ['--reuid', String(owner.uid), '--regid', String(owner.gid), '--init-groups', '--', join(bin, tool), ...args]]
    : [join(bin, tool), args];

  try {
    const [initdb, initArgs] = asOwner('initdb', ['-D', join(dir, 'data'), '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C']);
    const init = spawnSync(initdb, initArgs, { encoding: 'utf8' });
    if (init.status !== 0) throw new Error(`initdb failed (exit ${init.status}):\n${tail(`${init.stdout}${init.stderr}`)}`);
    const port = await freePort();
    const [server, serverArgs] = asOwner('postgres', [
      '-D', join(dir, 'data'), '-p', String(port), '-h', '127.0.0.1', '-k', dir,
      // A test cluster need not survive a crash: skip the disk flushes.
      '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off',
    ]);
    const child = spawn(server, serverArgs, { stdio: ['ignore', 'pipe', 'pipe'] });
    const killOnExit = () => child.kill('SIGKILL');
    process.once('exit', killOnExit);
    await waitForReady(child);
    return onServer(`postgres://postgres@127.0.0.1:${port}/postgres`, async () => {
      process.off('exit', killOnExit);
      // SIGINT is PostgreSQL's "fast shutdown": roll back open transactions and exit.
      await stopChild(child, 'SIGINT');
      await rm(dir, { recursive: true, force: true });
    });
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

// Databases are made and dropped through a maintenance connection to the given server.
function onServer(url: string, shutdown: () => Promise<void>): TestPostgres {
  const admin = postgres(url, { max: 1, onnotice: () => {} });
  const made: string[] = [];
  return {
    async createDatabase() {
      const name = `parley_test_${randomBytes(6).toString('hex')}`;
      await admin.unsafe(`CREATE DATABASE "${name}"`);
      made.push(name);
      const target = new URL(url);
      target.pathname = `/${name}`;
      return target.toString();
    },
    async stop() {
      for (const name of made) await admin.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`).catch(() => {});
      await admin.end({ timeout: 5 });
      await shutdown();
    },
  };
}

function postgresUser(): { uid: number; gid: number } {
  const id = (flag: string) => Number(spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' }).stdout.trim());
  const uid = id('-u');
  const gid = id('-g');
  if (!Number.isInteger(uid) || uid <= 0) throw new Error('Running as root, but there is no `postgres` OS user to run PostgreSQL as. Run `apt-get install postgresql-15`, which creates it.');
  return { uid, gid };
}

// Ready when the server says so in its log, not after a guessed sleep.
function waitForReady(child: ChildProcess): Promise<void> {
  const output: string[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`PostgreSQL did not become ready within ${START_TIMEOUT_MS} ms:\n${tail(output.join(''))}`));
    }, START_TIMEOUT_MS);
    const onData = (chunk: Buffer) => {
      output.push(chunk.toString('utf8'));
      if (READY.test(output.join(''))) {
        clearTimeout(timer);
        child.off('exit', onExit);
        // Keep draining the server's log, or a full pipe would stall it.
        child.stdout?.off('data', onData).resume();
        child.stderr?.off('data', onData).resume();
        resolve();
      }
    };
    const onExit = (code: number | null) => {
      clearTimeout(timer);
      reject(new Error(`PostgreSQL exited (code ${code}) before it was ready:\n${tail(output.join(''))}`));
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', onExit);
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no free port'))));
    });
  });
}

function tail(text: string): string {
  return text.trim().split('\n').slice(-15).join('\n');
}
