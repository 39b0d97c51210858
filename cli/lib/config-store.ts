/**
 * The stored login of `parley login`: which API, the access token and who it speaks for, in one
 * 0600 JSON file — `$PARLEY_CONFIG_DIR/credentials.json`, else `$XDG_CONFIG_HOME/parley/…`, else
 * `~/.config/parley/…`. Written atomically (a private temporary file renamed over the old one), so
 * a reader never sees half a file and the token is never readable by others, not even briefly.
 */
import { mkdir, readFile, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { ErrorCode, ParleyError } from '../../common/errors.ts';
import { writeFileAtomically } from '../../common/write-file-atomically.ts';

/** What `parley login` keeps. The token is a bearer credential: never print or log it. */
export interface StoredLogin {
  api: string;
  token: string;
  /** RFC 3339. */
  expiresAt: string;
  username: string;
  orgId: string;
  role: string;
}

/** Where the stored login lives, from the environment. */
export function credentialsFile(env: NodeJS.ProcessEnv): string {
  const dir = env.PARLEY_CONFIG_DIR || join(env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'parley');
  return join(dir, 'credentials.json');
}

/** Writes the login atomically with mode 0600 (its directory 0700 when created). */
export async function saveLogin(file: string, login: StoredLogin): Promise<void> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  await writeFileAtomically(file, `${JSON.stringify(login, null, 2)}\n`, { mode: 0o600 });
}

function isStoredLogin(value: unknown): value is StoredLogin {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return ['api', 'token', 'expiresAt', 'username', 'orgId', 'role'].every((key) => typeof v[key] === 'string');
}

/**
 * The stored login, or undefined when there is none.
 * @throws ParleyError InvalidInput when the file is readable by others or not a stored login.
 */
export async function loadLogin(file: string): Promise<StoredLogin | undefined> {
  let text: string;
  try {
    const { mode } = await stat(file);
    // A token readable by other users is a token anyone on the machine can use.
    if ((mode & 0o077) !== 0) {
      throw new ParleyError(ErrorCode.InvalidInput, `${file} is readable by other users, so the token in it may have been seen. Remove it and run \`parley login\` again (or \`chmod 600 ${file}\` if only you can have read it).`, { path: file });
    }
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (!isStoredLogin(parsed)) {
    throw new ParleyError(ErrorCode.InvalidInput, `${file} is not a login stored by \`parley login\`. Remove it and run \`parley login\` again.`, { path: file });
  }
  return { api: parsed.api, token: parsed.token, expiresAt: parsed.expiresAt, username: parsed.username, orgId: parsed.orgId, role: parsed.role };
}
