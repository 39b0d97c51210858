/**
 * Takes binaries from this host into an image: each binary plus every shared library `ldd` lists
 * for it (and the dynamic loader), as regular files owned by root, with the directories above them.
 */
import { execFile } from 'node:child_process';
import { realpath, stat } from 'node:fs/promises';
import { promisify } from 'node:util';
import { ErrorCode, ParleyError } from '../common/errors.ts';
import type { TarEntry } from './tar-pack.ts';

/** A host binary and where it goes in the image. */
export interface HostBinary {
  /** Path inside the image. */
  at: string;
  /** Path on this host. */
  from: string;
}

const ROOT = { uid: 0, gid: 0 };

/**
 * Parses `ldd` output into the paths of the shared libraries and the dynamic loader, as ldd
 * prints them (`libc.so.6 => /lib/…/libc.so.6 (0x…)` and `/lib64/ld-linux-x86-64.so.2 (0x…)`).
 * The vDSO has no file and is skipped.
 */
export function parseLdd(output: string): string[] {
  const paths = new Set<string>();
  for (const line of output.split('\n')) {
    const match = /(?:=>\s*)?(\/\S+)\s+\(0x[0-9a-f]+\)/i.exec(line);
    if (match?.[1]) paths.add(match[1]);
  }
  return [...paths];
}

/** The shared libraries `binary` loads, per ldd. Throws ParleyError Prerequisite when ldd is missing. */
export async function sharedLibraries(binary: string): Promise<string[]> {
  try {
    const { stdout } = await promisify(execFile)('ldd', [binary]);
    return parseLdd(stdout);
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stdout?: string; stderr?: string };
    if (e.code === 'ENOENT') {
      throw new ParleyError(
        ErrorCode.Prerequisite,
        `Cannot list the libraries ${binary} needs: \`ldd\` is not installed. ` +
          'Install it (Debian: libc-bin), or set PARLEY_BASE_IMAGE to a Node image on this engine.',
      );
    }
    // A statically linked binary makes ldd exit 1 ("not a dynamic executable"): it needs nothing.
    if (/not a dynamic executable|statically linked/.test(`${e.stdout ?? ''}${e.stderr ?? ''}`)) return [];
    throw err;
  }
}

/**
 * File entries for `binaries` and every library they load, owned by root, modes capped at
 * 0755 (no setuid bits, nothing writable but by root). Throws ParleyError Prerequisite without ldd, and
 * the file system's error for a missing binary.
 */
export async function hostBinaryEntries(binaries: HostBinary[]): Promise<TarEntry[]> {
  const files = new Map<string, string>();
  for (const binary of binaries) {
    files.set(binary.at, binary.from);
    for (const lib of await sharedLibraries(binary.from)) files.set(lib, lib);
  }
  const entries: TarEntry[] = [];
  for (const [at, from] of files) {
    // ldd prints paths through symlinks (/lib64/ld-linux… → /lib/x86_64-linux-gnu/…); the image
    // gets a regular file at the printed path, which is where the loader and binary look.
    const real = await realpath(from);
    const info = await stat(real);
    entries.push({ path: at, type: 'file', mode: info.mode & 0o755, ...ROOT, source: { path: real, size: info.size } });
  }
  return entries;
}

/** Every directory above `path`, outermost first (`/a/b/c` → `/a`, `/a/b`). */
function ancestors(path: string): string[] {
  const parts = path.split('/').filter(Boolean);
  return parts.slice(0, -1).map((_, i) => `/${parts.slice(0, i + 1).join('/')}`);
}

/**
 * `entries` plus a root-owned 0755 entry for each directory above them that is not listed,
 * sorted by path so each directory comes before what it holds. Later entries win on duplicates.
 */
export function withParentDirectories(entries: TarEntry[]): TarEntry[] {
  const byPath = new Map(entries.map((e) => [e.path, e]));
  for (const path of [...byPath.keys()]) {
    for (const dir of ancestors(path)) if (!byPath.has(dir)) byPath.set(dir, { path: dir, type: 'directory', mode: 0o755, ...ROOT });
  }
  return [...byPath.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
