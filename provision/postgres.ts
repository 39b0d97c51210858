/**
 * PostgreSQL 15's server binaries, which the test suite uses to start throwaway clusters (the
 * API's suites run on PGlite and on real PostgreSQL). Installed from Debian when we are root.
 */
import { access, constants } from 'node:fs/promises';
import { ErrorCode, ParleyError } from '../common/errors.ts';
import { aptInstall } from './apt.ts';
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

/** Makes sure the binaries exist (unless DATABASE_URL names a server); throws Prerequisite otherwise. */
export async function ensurePostgresBinaries(progress: Progress, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  if (env.DATABASE_URL || (await present())) return;
  if (process.getuid?.() !== 0) {
    throw new ParleyError(ErrorCode.Prerequisite, `PostgreSQL 15 is not installed (no ${POSTGRES_BIN}/initdb). Run: sudo apt-get install -y postgresql-15 (or set DATABASE_URL to a PostgreSQL server for the tests).`);
  }
  progress('Installing PostgreSQL 15 for the test suite (apt-get install postgresql-15)…');
  if (!(await aptInstall(['postgresql-15'], progress)) || !(await present())) {
    throw new ParleyError(ErrorCode.Prerequisite, 'apt-get install postgresql-15 failed. Run it yourself to see why, then run this again.');
  }
  progress('PostgreSQL 15 installed.');
}
