/**
 * Parley's Python base image, made on this machine without a registry: a minimal Debian root
 * file system from Debian's own packages (debootstrap, from the mirror this machine's apt uses),
 * with python3 and the Debian packages an algorithm's manifest lists (python3-numpy, …), then the
 * container contract's preparation (the sandbox user 10001, /data, /run/parley/{input,volume}
 * with the volume's owner and mode, /app), imported as one layer (`docker import`).
 *
 * It is built once per package list and tagged `parley/python-base:<hash>`, the hash of the
 * sorted package list, the suite and PYTHON_LAYOUT_VERSION: when the tag exists nothing runs.
 * Two builds of the same list give different layers (debootstrap stamps times), which is why
 * the tag, not the id, is the cache key; algorithm images FROM it are reproducible given it.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFile, chmod, chown, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { ErrorCode, ParleyError } from '../common/errors.ts';
import { ContainerPath, Label, SANDBOX_USER } from '../activities/sandbox/contract.ts';
import { inspectImage, type BaseImage } from './base-image.ts';
import { debianMirror } from './debian-mirror.ts';
import { readProgress, type OnProgress } from './docker-progress.ts';

/** The repository Parley's Python base images are tagged in. */
export const PYTHON_BASE_REPOSITORY = 'parley/python-base';
/** The Debian release the base is made from. */
export const DEBIAN_SUITE = 'bookworm';
// Bump when the preparation below changes, so the tag (and every algorithm image FROM it) changes.
const PYTHON_LAYOUT_VERSION = 1;

/** A Debian package name (Debian Policy 5.6.1). */
export const DEBIAN_PACKAGE = /^[a-z0-9][a-z0-9+.-]+$/;

const IMAGE_CHANGES = [
  `USER ${SANDBOX_USER.uid}:${SANDBOX_USER.gid}`,
  'ENV PATH=/usr/local/bin:/usr/bin:/bin',
  // Bytecode caches cannot be written on the read-only root anyway; this keeps Python from trying.
  'ENV PYTHONDONTWRITEBYTECODE=1',
  `WORKDIR ${ContainerPath.App}`,
  `LABEL ${Label.Role}=base`,
];

export interface EnsurePythonBaseImageOptions {
  /** Debian packages beyond python3 itself, e.g. `['python3-numpy']`. */
  packages?: string[];
  onProgress?: OnProgress;
  /** The Debian mirror; by default the one this machine's apt uses for the suite. */
  mirror?: string;
}

/**
 * Always in the base: the interpreter (python3-minimal), and python3 for the rest of the standard
 * library — python3-minimal alone lacks json and http.client, which parley.py imports.
 */
const ALWAYS = ['python3-minimal', 'python3'];

/** The package list as it goes into the image and its tag: ALWAYS and `packages`, sorted, unique. */
export function pythonBasePackages(packages: string[] = []): string[] {
  for (const p of packages) {
    if (!DEBIAN_PACKAGE.test(p)) throw new TypeError(`"${p}" is not a Debian package name (lowercase letters, digits, "+", "-", ".").`);
  }
  return [...new Set([...ALWAYS, ...packages])].sort();
}

/** `parley/python-base:<hash>` for a package list: what the image is cached under. */
export function pythonBaseRef(packages: string[] = []): string {
  const list = pythonBasePackages(packages);
  const hash = createHash('sha256').update(`layout ${PYTHON_LAYOUT_VERSION}\nsuite ${DEBIAN_SUITE}\n${IMAGE_CHANGES.join('\n')}\n${list.join('\n')}\n`);
  return `${PYTHON_BASE_REPOSITORY}:${DEBIAN_SUITE}-${hash.digest('hex').slice(0, 12)}`;
}


/** Runs a command, passing its lines to `onLine`; resolves with its exit code and last lines. */
function runCommand(command: string, argv: string[], onLine: (line: string) => void): Promise<{ code: number; tail: string[] }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive', LC_ALL: 'C' } });
    const tail: string[] = [];
    for (const stream of [child.stdout, child.stderr]) {
      let pending = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => {
        const lines = (pending + chunk).split('\n');
        pending = lines.pop() ?? '';
        for (const line of lines) {
          tail.push(line);
          if (tail.length > 20) tail.shift();
          onLine(line);
        }
      });
    }
    child.once('error', reject);
    child.once('close', (code) => resolve({ code: code ?? 1, tail }));
  });
}

/** debootstrap's lines worth a person's attention: its stages, warnings and errors, not each package. */
function debootstrapLine(onProgress?: OnProgress): (line: string) => void {
  return (line) => {
    if (!onProgress || line.trim() === '') return;
    if (/^I: (Retrieving|Validating|Extracting|Unpacking|Configuring) /.test(line)) return;
    onProgress(`  ${line}`);
  };
}

/** The contract's preparation, done on the root file system before it is imported. */
async function prepareRoot(root: string): Promise<void> {
  const { uid, gid, name } = SANDBOX_USER;
  const passwd = await readFile(join(root, 'etc/passwd'), 'utf8');
  if (!passwd.split('\n').some((l) => l.startsWith(`${name}:`))) {
    await appendFile(join(root, 'etc/group'), `${name}:x:${gid}:\n`);
    await appendFile(join(root, 'etc/passwd'), `${name}:x:${uid}:${gid}:Parley algorithm:${ContainerPath.App}:/usr/sbin/nologin\n`);
  }
  for (const dir of [ContainerPath.Data, ContainerPath.Input, ContainerPath.Volume, ContainerPath.App]) {
    await mkdir(join(root, dir), { recursive: true, mode: 0o755 });
    await chmod(join(root, dir), 0o755);
  }
  // An empty named volume mounted here is first filled from the image, owner and mode included,
  // so each run volume starts out private to the sandbox user without any root step.
  await chown(join(root, ContainerPath.Volume), uid, gid);
  await chmod(join(root, ContainerPath.Volume), 0o700);
  await chmod(join(root, 'tmp'), 0o1777);
  // Package downloads and indexes are of no use inside a sandbox with no network: leave them out.
  for (const dir of ['var/cache/apt/archives', 'var/lib/apt/lists']) {
    await rm(join(root, dir), { recursive: true, force: true });
    await mkdir(join(root, dir), { recursive: true });
  }
}

/** Unmounts whatever debootstrap left mounted under `root` (/proc, /sys), deepest first. */
async function unmountUnder(root: string): Promise<void> {
  const mounts = (await readFile('/proc/mounts', 'utf8').catch(() => ''))
    .split('\n')
    .map((l) => l.split(' ')[1] ?? '')
    .filter((m) => m === root || m.startsWith(`${root}/`))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) await runCommand('umount', ['-l', m], () => undefined).catch(() => undefined);
}

/** Removes the build directory; its mounts first, so nothing outside it can be touched. */
async function removeBuildDir(dir: string): Promise<void> {
  await unmountUnder(join(dir, 'root'));
  await rm(dir, { recursive: true, force: true });
}

/**
 * Imports `root` as `ref`: a tar of it (numeric owners, so 10001 stays 10001) streamed to the
 * engine's import endpoint.
 */
async function importRoot(docker: Docker, root: string, ref: string, onProgress?: OnProgress): Promise<void> {
  const [repo, tag] = ref.split(':') as [string, string];
  const tar = spawn('tar', ['-C', root, '--numeric-owner', '--one-file-system', '-c', '.'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let tarError = '';
  tar.stderr.setEncoding('utf8').on('data', (c: string) => (tarError += c));
  const tarExit = new Promise<number>((resolve) => tar.once('close', (code) => resolve(code ?? 1)));
  const response = await docker.importImage(tar.stdout, { repo, tag, changes: IMAGE_CHANGES, message: `Parley Python base: Debian ${DEBIAN_SUITE} by debootstrap` });
  await readProgress(response, onProgress);
  const code = await tarExit;
  if (code !== 0) throw new Error(`tar exited ${code}: ${tarError.trim().split('\n').slice(-1)[0] ?? ''}`);
}

/**
 * Returns the Python base image for `packages`, building it the first time: debootstrap
 * (variant minbase) into a temporary directory, the contract's preparation, import, and the
 * directory removed whatever happens. Needs root (debootstrap does) and the mirror's reach.
 *
 * Throws ParleyError Prerequisite when debootstrap is missing or Parley is not root, and
 * ParleyError ImageBuild (with debootstrap's last lines) when the build or import fails.
 */
export async function ensurePythonBaseImage(docker: Docker, options: EnsurePythonBaseImageOptions = {}): Promise<BaseImage> {
  const { onProgress } = options;
  const packages = pythonBasePackages(options.packages);
  const ref = pythonBaseRef(options.packages);
  const existing = await inspectImage(docker, ref);
  if (existing) return { ref, id: existing.Id, prepared: true };

  if (process.getuid?.() !== 0) {
    throw new ParleyError(
      ErrorCode.Prerequisite,
      `Cannot build the Python base image ${ref}: debootstrap needs root, and Parley runs as uid ${process.getuid?.()}. ` +
        'Run `parley algorithm build` once as root (the image is then cached), or set PARLEY_BASE_IMAGE to a Python image on this engine.',
      { image: ref },
    );
  }
  const mirror = options.mirror ?? (await debianMirror(DEBIAN_SUITE));
  const dir = await mkdtemp(join(tmpdir(), 'parley-python-base-'));
  const root = join(dir, 'root');
  try {
    onProgress?.(`Building ${ref}: Debian ${DEBIAN_SUITE} (minbase) with ${packages.join(', ')} from ${mirror}; this takes a few minutes, once`);
    const argv = ['--variant=minbase', `--include=${packages.join(',')}`, DEBIAN_SUITE, root, mirror];
    let result: { code: number; tail: string[] };
    try {
      result = await runCommand('debootstrap', argv, debootstrapLine(onProgress));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new ParleyError(
          ErrorCode.Prerequisite,
          `Cannot build the Python base image ${ref}: debootstrap is not installed. Install it (\`apt-get install -y debootstrap\`, or \`npx parley setup\`), ` +
            'or set PARLEY_BASE_IMAGE to a Python image on this engine.',
          { image: ref },
        );
      }
      throw err;
    }
    if (result.code !== 0) {
      throw new ParleyError(
        ErrorCode.ImageBuild,
        `Could not build the Python base image ${ref}: debootstrap exited ${result.code} (last line: ${result.tail.filter((l) => l.trim() !== '').slice(-1)[0] ?? 'none'}). ` +
          `Check that every package in the manifest exists in Debian ${DEBIAN_SUITE} and that ${mirror} is reachable.`,
        { image: ref, mirror },
      );
    }
    await unmountUnder(root);
    onProgress?.('  Preparing the container contract (user 10001, /data, /run/parley, /app)');
    await prepareRoot(root);
    onProgress?.(`  Importing ${ref}`);
    try {
      await importRoot(docker, root, ref, onProgress);
    } catch (err) {
      throw new ParleyError(ErrorCode.ImageBuild, `Could not import the Python base image ${ref}: ${(err as Error).message}.`, { image: ref }, { cause: err });
    }
  } finally {
    await removeBuildDir(dir);
  }
  const id = (await inspectImage(docker, ref))?.Id;
  if (id === undefined) throw new ParleyError(ErrorCode.ImageBuild, `The engine accepted the import of ${ref} but does not list it.`, { image: ref });
  onProgress?.(`Built ${ref} (${id.slice(0, 19)})`);
  return { ref, id, prepared: true };
}
