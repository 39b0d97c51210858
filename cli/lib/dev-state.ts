/**
 * What `parley dev up` leaves in DIR/dev.json (0600: it holds the admin's and researcher's
 * passwords): the processes it started, the addresses they serve, the sites and where their
 * configuration is. `status` and `down` read it; nothing else does.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ErrorCode, ParleyError } from '../../common/errors.ts';
import { writeFileAtomically } from '../../common/write-file-atomically.ts';
import type { DevProcess } from './dev-process.ts';

export const DEFAULT_DEV_DIR = '.parley-dev';

export interface DevSite {
  org: string;
  /** DIR/sites/<org>/site.yaml */
  config: string;
}

export interface DevState {
  version: 1;
  temporalAddress?: string;
  apiUrl?: string;
  adminPassword: string;
  researcherPassword: string;
  researcher: { org: string; username: string; keyFile: string; configDir: string };
  collaboration: string;
  sites: DevSite[];
  /** True once organisations, users, the collaboration and the sites are registered (kept across down/up). */
  registered: boolean;
  processes: DevProcess[];
}

/** DIR as given (--dir), else ./.parley-dev, absolute. */
export function devDir(given: string | undefined): string {
  return resolve(given ?? DEFAULT_DEV_DIR);
}

const stateFile = (dir: string) => join(dir, 'dev.json');

/** The recorded state, or undefined when DIR has none. @throws ParleyError InvalidInput when dev.json is damaged. */
export async function readDevState(dir: string): Promise<DevState | undefined> {
  let text: string;
  try {
    text = await readFile(stateFile(dir), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const state = JSON.parse(text) as DevState;
    if (state.version !== 1 || !Array.isArray(state.processes) || !Array.isArray(state.sites)) throw new Error('not a parley dev state');
    return state;
  } catch (err) {
    throw new ParleyError(ErrorCode.InvalidInput, `${stateFile(dir)} is not a state file \`parley dev up\` wrote (${(err as Error).message}). Stop what it started by hand, then remove ${dir} (or give another --dir).`, { path: stateFile(dir) });
  }
}

/** Writes the state atomically, 0600, creating DIR (0700). */
export async function writeDevState(dir: string, state: DevState): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFileAtomically(stateFile(dir), `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
}
