/**
 * PostgreSQL 15's server binaries, which the test suite uses to start throwaway clusters (the
 * API's suites run on PGlite and on real PostgreSQL). Installed from Debian when we are root.
 */
import { spawn } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import { ErrorCode, ParleyError } from '../../common/errors.ts';
import type { Progress } from './temporal-cli.ts';

export const POSTGRES_BIN = '/usr/lib/postgresql/15/bin';

async function present(): Promise<boolean> {
  try {
    await access(`${POSTGRES_BIN}/initdb`, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function aptInstall(progress: Progress): Promise<number> {
  return new Promise((resolve) => {
    const run = (args: string[], next: (code: number) => void) => {
      const child = spawn('apt-get', args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
      child.stdout.resume();
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => chunk.split('\n').filter((l) => l.startsWith('E:')).forEach((l) => progress(`  ${l}`)));
      child.on('error', () => next(127));
      child.on('close', (code) => next(code ?? 1));
    };
    run(['install', '-y', '-q', 'postgresql-15'], (code) => (code === 0 ? resolve(0) : run(['update', '-q'], () => run(['install', '-y', '-q', 'postgresql-15'], resolve))));
  });
}

/** Makes sure the binaries exist (unless DATABASE_URL names a server); throws Prerequisite otherwise. */
export async function ensurePostgresBinaries(progress: Progress, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  if (env.DATABASE_URL || (await present())) return;
  if (process.getuid?.() !== 0) {
    throw new ParleyError(ErrorCode.Prerequisite, `PostgreSQL 15 is not installed (no ${POSTGRES_BIN}/initdb). Run: sudo apt-get install -y postgresql-15 (or set DATABASE_URL to a PostgreSQL server for the tests).`);
  }
  progress('Installing PostgreSQL 15 for the test suite (apt-get install postgresql-15)…');
  if ((await aptInstall(progress)) !== 0 || !(await present())) {
    throw new ParleyError(ErrorCode.Prerequisite, 'apt-get install postgresql-15 failed. Run it yourself to see why, then run this again.');
  }
  progress('PostgreSQL 15 installed.');
}
