/**
 * An organisation's private keys live in one file (mode 0600) at its site or in the data
 * scientist's client. Never in a container, a workflow payload, the API or its database.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ErrorCode, ParleyError } from '../common/errors.ts';
import { parseOrgKeys, type OrgKeys } from '../crypto/index.ts';

/** Writes the key file atomically with mode 0600; refuses to overwrite an existing one. */
export async function writeKeyFile(path: string, keys: OrgKeys): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const staging = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  const handle = await open(staging, 'wx', 0o600);
  try {
    await handle.writeFile(`${JSON.stringify(keys, null, 2)}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await stat(path);
    await unlink(staging);
    throw new ParleyError(ErrorCode.InvalidInput, `A key file already exists at ${path}; Parley never overwrites keys. Move it away first if you mean to replace it.`, { path });
  } catch (err) {
    if (err instanceof ParleyError) throw err;
  }
  await rename(staging, path);
  await chmod(path, 0o600);
}

/**
 * Reads and validates a key file. Throws KeyInvalid when it is missing, malformed, or readable
 * by group or others (a private key anyone on the machine can read is not private).
 */
export async function readKeyFile(path: string): Promise<OrgKeys> {
  let mode: number;
  try {
    mode = (await stat(path)).mode;
  } catch {
    throw new ParleyError(ErrorCode.KeyInvalid, `No key file at ${path}. Create one with \`parley site init\` (or point to the right file).`, { path });
  }
  if ((mode & 0o077) !== 0) {
    throw new ParleyError(
      ErrorCode.KeyInvalid,
      `Key file ${path} is readable by other users (mode ${(mode & 0o777).toString(8)}). Run: chmod 600 ${path}`,
      { path },
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(await readFile(path, 'utf8'));
  } catch {
    throw new ParleyError(ErrorCode.KeyInvalid, `Key file ${path} is not valid JSON.`, { path });
  }
  return parseOrgKeys(json);
}
