/**
 * The demo's own record in its state directory (`demo-state.json`, mode 0600): what it must
 * remember to meet the same federation again under `--state-dir` — the passwords of the kept API
 * database's admin and researcher, the collaboration, and each site worker's credential (which
 * the API shows only once). The organisations' key files, pins and state directories sit beside
 * it (demo/federation.ts); together they let a sequence of demos (a differencing pair, say) meet
 * the same sites with the same keys.
 *
 * The record also marks the directory as a demo's: a non-empty directory without one is someone
 * else's (a site's own state, say), and the demo refuses to write keys or a database into it.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCode, ParleyError } from '../common/errors.ts';
import { isOrgId, type OrgId } from '../common/ids.ts';
import { writeFileAtomically } from '../common/write-file-atomically.ts';

export const DEMO_STATE_FILE = 'demo-state.json';
const KIND = 'parley-demo-state';
const VERSION = 1;

/** What the demo remembers. Secrets: never print or log any of it. */
export interface DemoState {
  adminPassword: string;
  researcherPassword: string;
  /** The collaboration the demo registered, once it has. */
  collaborationId?: string;
  /** Each site worker's credential, by organisation, once registered. */
  siteCredentials: Record<OrgId, string>;
}

export interface DemoStateStore {
  readonly dir: string;
  /** True when an earlier demo made the directory: keys, pins and the database are reused. */
  readonly reused: boolean;
  readonly state: DemoState;
  /** Records `change` and writes the file at once (a site credential is not shown twice). */
  update(change: Partial<DemoState>): Promise<void>;
}

function corrupt(file: string, dir: string, why: string): ParleyError {
  return new ParleyError(
    ErrorCode.InvalidInput,
    `${file} is not a usable Parley demo state file: ${why}. It was edited or damaged, or another program wrote it. ` +
      `Remove ${dir} to start afresh (new keys, a new database), or give another --state-dir.`,
    { path: file },
  );
}

function parseState(text: string, file: string, dir: string): DemoState {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw corrupt(file, dir, 'it is not JSON');
  }
  const v = json as Record<string, unknown> | null;
  if (typeof v !== 'object' || v === null || v.kind !== KIND) throw corrupt(file, dir, `it does not say "kind": "${KIND}"`);
  if (v.version !== VERSION) throw corrupt(file, dir, `it is of version ${JSON.stringify(v.version)}, and this demo reads version ${VERSION}`);
  const password = (value: unknown) => typeof value === 'string' && value.length >= 12;
  if (!password(v.adminPassword) || !password(v.researcherPassword)) throw corrupt(file, dir, 'its admin or researcher password is missing');
  if (v.collaborationId !== undefined && typeof v.collaborationId !== 'string') throw corrupt(file, dir, 'its collaborationId is not a string');
  const credentials = v.siteCredentials as Record<string, unknown> | null;
  if (typeof credentials !== 'object' || credentials === null || Array.isArray(credentials)
    || !Object.entries(credentials).every(([org, credential]) => isOrgId(org) && typeof credential === 'string' && credential.length > 0)) {
    throw corrupt(file, dir, 'its siteCredentials are not organisation → credential');
  }
  return {
    adminPassword: v.adminPassword as string,
    researcherPassword: v.researcherPassword as string,
    ...(v.collaborationId === undefined ? {} : { collaborationId: v.collaborationId as string }),
    siteCredentials: credentials as Record<OrgId, string>,
  };
}

/** The directory's entries, or undefined when it does not exist. @throws when it is not a directory. */
async function entriesOf(dir: string): Promise<string[] | undefined> {
  try {
    return await readdir(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ENOTDIR') throw new ParleyError(ErrorCode.InvalidInput, `--state-dir ${dir} is a file, not a directory. Give a directory (it is created when absent).`, { path: dir });
    throw err;
  }
}

/**
 * The record an earlier demo left in `dir`; undefined when `dir` is absent or empty (a new one).
 * @throws ParleyError InvalidInput when `dir` holds other files and no record (foreign), or a
 * record that does not parse or is readable by others (damaged).
 */
export async function readDemoState(dir: string): Promise<DemoState | undefined> {
  const entries = await entriesOf(dir);
  if (entries === undefined || entries.length === 0) return undefined;
  if (!entries.includes(DEMO_STATE_FILE)) {
    const shown = entries.slice(0, 3).join(', ') + (entries.length > 3 ? ', …' : '');
    throw new ParleyError(
      ErrorCode.InvalidInput,
      `${dir} is not a Parley demo's state directory: it holds other files (${shown}) and no ${DEMO_STATE_FILE}, so the demo will not write keys or a database into it. ` +
        'Give a new or empty directory, or the one an earlier `parley demo --state-dir` used.',
      { path: dir },
    );
  }
  const file = join(dir, DEMO_STATE_FILE);
  // Passwords and site credentials: readable by others, they are no longer the demo's alone.
  const { mode } = await stat(file);
  if ((mode & 0o077) !== 0) throw corrupt(file, dir, `it is readable by other users (mode ${(mode & 0o777).toString(8)}); if only you can have read it, run chmod 600 ${file}`);
  return parseState(await readFile(file, 'utf8'), file, dir);
}

/**
 * Reads the demo's record in `dir`, or starts one (and the directory) when there is none.
 * @throws ParleyError InvalidInput as readDemoState.
 */
export async function openDemoState(dir: string): Promise<DemoStateStore> {
  const file = join(dir, DEMO_STATE_FILE);
  const kept = await readDemoState(dir);
  // Generated here, not by the API, so a kept database's admin is one the next demo can sign in as.
  let state: DemoState = kept ?? { adminPassword: randomBytes(18).toString('base64url'), researcherPassword: randomBytes(18).toString('base64url'), siteCredentials: {} };
  const write = () => writeFileAtomically(file, `${JSON.stringify({ kind: KIND, version: VERSION, ...state }, null, 2)}\n`, { mode: 0o600 });
  if (!kept) {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await write();
  }
  return {
    dir,
    reused: kept !== undefined,
    get state() {
      return state;
    },
    async update(change) {
      state = { ...state, ...change };
      await write();
    },
  };
}
