/**
 * debootstrap, which makes the Python base image from Debian's packages with no registry
 * (algorithms/python-base-image.ts). Installed once with apt when missing and Parley runs as
 * root, as the other provisioning steps are; otherwise the error names the command to run.
 */
import { access, constants } from 'node:fs/promises';
import { ErrorCode, ParleyError } from '../common/errors.ts';
import { aptInstall } from './apt.ts';
import type { Progress } from './temporal-cli.ts';

const SEARCH = ['/usr/sbin/debootstrap', '/usr/bin/debootstrap', '/sbin/debootstrap', '/bin/debootstrap'];

async function findDebootstrap(): Promise<string | undefined> {
  const dirs = (process.env.PATH ?? '').split(':').filter(Boolean).map((d) => `${d}/debootstrap`);
  for (const path of [...dirs, ...SEARCH]) {
    try {
      await access(path, constants.X_OK);
      return path;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * Returns debootstrap's path, installing it first (apt-get, showing its progress) when missing.
 * Throws ParleyError Prerequisite when it is missing and cannot be installed.
 */
export async function ensureDebootstrap(progress: Progress): Promise<string> {
  const found = await findDebootstrap();
  if (found) return found;
  if (process.getuid?.() === 0) {
    progress('Installing debootstrap (to build the Python base image from Debian\'s packages)');
    if (await aptInstall(['debootstrap'], progress)) {
      const installed = await findDebootstrap();
      if (installed) return installed;
    }
  }
  throw new ParleyError(
    ErrorCode.Prerequisite,
    'debootstrap is not installed, and Parley could not install it: it builds the Python base image from Debian\'s packages. ' +
      'Run `sudo apt-get install -y debootstrap`, or set PARLEY_BASE_IMAGE to a Python image on this engine.',
  );
}
