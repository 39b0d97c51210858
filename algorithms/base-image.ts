/**
 * Parley's base image, made on this machine without a registry: the host's own Node binary and
 * the shared libraries it links, a non-root user, and the directories of the container contract,
 * imported as a single-layer image (`docker import`). Nothing else is in it — no shell, no package
 * manager — so an algorithm has little to misuse even before the sandbox's own limits.
 *
 * With a registry, a site may instead name an ordinary Node image (`baseImage`, e.g. from
 * PARLEY_BASE_IMAGE=node:24-slim). It must have `node` on its PATH and a POSIX shell with grep,
 * mkdir, chown and chmod; ensureAlgorithmImage then prepares it with a RUN step that creates the
 * same user (10001:10001) and directories, the run volume's mount point owned by that user.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import type Docker from 'dockerode';
import { ErrorCode, ParleyError } from '../common/errors.ts';
import { writeFileAtomically } from '../common/write-file-atomically.ts';
import { ContainerPath, Label, SANDBOX_USER } from '../activities/sandbox/contract.ts';
import { readProgress, type OnProgress } from './docker-progress.ts';
import { hostBinaryEntries, withParentDirectories } from './host-runtime.ts';
import { packEntries, type TarEntry } from './tar-pack.ts';

/** The repository Parley's own base images are tagged in. */
export const BASE_REPOSITORY = 'parley/base';

/** An image algorithm images are built FROM. */
export interface BaseImage {
  ref: string;
  /** The engine's image id (`sha256:…`). */
  id: string;
  /**
   * True for Parley's own base (user and directories already in it); false for an ordinary image
   * named by the site, which the algorithm build prepares with a RUN step.
   */
  prepared: boolean;
}

export interface EnsureBaseImageOptions {
  /** An ordinary image to use instead of building one (pulled when not on the engine). */
  baseImage?: string;
  onProgress?: OnProgress;
}

// Bump when the layout below changes, so the tag (and so every algorithm image) changes with it.
const LAYOUT_VERSION = 1;
const ROOT = { uid: 0, gid: 0 };
const SANDBOX = { uid: SANDBOX_USER.uid, gid: SANDBOX_USER.gid };
const NODE_PATH = '/usr/local/bin/node';

const PASSWD = `root:x:0:0:root:/root:/sbin/nologin\n${SANDBOX_USER.name}:x:${SANDBOX_USER.uid}:${SANDBOX_USER.gid}:Parley algorithm:${ContainerPath.App}:/sbin/nologin\n`;
const GROUP = `root:x:0:\n${SANDBOX_USER.name}:x:${SANDBOX_USER.gid}:\n`;

/** The contract's directories; the run volume's mount point carries the owner a new volume takes. */
const CONTRACT_DIRS: TarEntry[] = [
  { path: '/tmp', type: 'directory', mode: 0o1777, ...ROOT },
  { path: ContainerPath.Data, type: 'directory', mode: 0o755, ...ROOT },
  { path: '/run', type: 'directory', mode: 0o755, ...ROOT },
  { path: '/run/parley', type: 'directory', mode: 0o755, ...ROOT },
  { path: ContainerPath.Input, type: 'directory', mode: 0o755, ...ROOT },
  // An empty named volume mounted here is first filled from the image, owner and mode included,
  // so each run volume starts out private to the sandbox user without any root step.
  { path: ContainerPath.Volume, type: 'directory', mode: 0o700, ...SANDBOX },
  { path: ContainerPath.App, type: 'directory', mode: 0o755, ...ROOT },
];

const IMAGE_CHANGES = [
  `USER ${SANDBOX_USER.uid}:${SANDBOX_USER.gid}`,
  'ENV PATH=/usr/local/bin:/usr/bin:/bin',
  `WORKDIR ${ContainerPath.App}`,
  `LABEL ${Label.Role}=base`,
];

// Hashing the 100 MB Node binary takes a few hundred ms: each file version (path, inode, size,
// mtime) is hashed once per machine, and the digest kept in Parley's cache across processes.
const fileHashes = new Map<string, string>();
const HASH_CACHE = join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'parley', 'file-hashes.json');
let cacheLoaded: Promise<void> | undefined;

async function loadHashCache(): Promise<void> {
  try {
    const saved = JSON.parse(await readFile(HASH_CACHE, 'utf8')) as Record<string, string>;
    for (const [key, digest] of Object.entries(saved)) if (/^[0-9a-f]{64}$/.test(digest)) fileHashes.set(key, digest);
  } catch {
    // no cache yet, or unreadable: hash afresh
  }
}

async function hashFile(path: string): Promise<string> {
  cacheLoaded ??= loadHashCache();
  await cacheLoaded;
  const info = await stat(path);
  const key = `${path} ${info.dev}:${info.ino} ${info.size} ${info.mtimeMs}`;
  const known = fileHashes.get(key);
  if (known !== undefined) return known;
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  const digest = hash.digest('hex');
  fileHashes.set(key, digest);
  try {
    await mkdir(dirname(HASH_CACHE), { recursive: true });
    await writeFileAtomically(HASH_CACHE, JSON.stringify(Object.fromEntries(fileHashes)));
  } catch {
    // a cache that cannot be written only costs the next process a re-hash
  }
  return digest;
}

/** The archive's entries: Node and its libraries, the contract's directories, a minimal user database. */
async function baseEntries(): Promise<TarEntry[]> {
  return withParentDirectories([
    ...(await hostBinaryEntries([{ at: NODE_PATH, from: process.execPath }])),
    ...CONTRACT_DIRS,
    { path: '/etc/passwd', type: 'file', mode: 0o644, ...ROOT, content: Buffer.from(PASSWD) },
    { path: '/etc/group', type: 'file', mode: 0o644, ...ROOT, content: Buffer.from(GROUP) },
  ]);
}

/** A short hash of everything that goes into the image, so the tag changes exactly when it should. */
async function hashEntries(entries: TarEntry[]): Promise<string> {
  const hash = createHash('sha256').update(`layout ${LAYOUT_VERSION}\n${IMAGE_CHANGES.join('\n')}\n`);
  for (const e of entries) {
    const body = e.content ? createHash('sha256').update(e.content).digest('hex') : e.source ? await hashFile(e.source.path) : '';
    hash.update(`${e.type} ${e.path} ${e.mode.toString(8)} ${e.uid}:${e.gid} ${body}\n`);
  }
  return hash.digest('hex').slice(0, 12);
}

function isNotFound(err: unknown): boolean {
  return (err as { statusCode?: number } | null)?.statusCode === 404;
}

/** The image's inspection, or undefined when the engine does not have it. */
/** The engine's record of image `ref`, or undefined when it has none. */
export async function inspectImage(docker: Docker, ref: string): Promise<Docker.ImageInspectInfo | undefined> {
  try {
    return await docker.getImage(ref).inspect();
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

async function ensureOrdinaryImage(docker: Docker, ref: string, onProgress?: OnProgress): Promise<BaseImage> {
  let info = await inspectImage(docker, ref);
  if (!info) {
    onProgress?.(`Pulling base image ${ref}`);
    try {
      await readProgress(await docker.pull(ref), onProgress);
    } catch (err) {
      throw new ParleyError(
        ErrorCode.Prerequisite,
        `Base image ${ref} is not on this Docker engine and could not be pulled: ${(err as Error).message}. ` +
          'Pull or load it, or unset PARLEY_BASE_IMAGE to build Parley\'s own base from this machine\'s Node.',
        { image: ref },
        { cause: err },
      );
    }
    info = await inspectImage(docker, ref);
    if (!info) throw new ParleyError(ErrorCode.Prerequisite, `Base image ${ref} was pulled but the engine does not list it.`, { image: ref });
  }
  // A Parley base from a registry (labelled so) already meets the contract; anything else is prepared.
  return { ref, id: info.Id, prepared: info.Config?.Labels?.[Label.Role] === 'base' };
}

/**
 * Returns the image algorithm images are built FROM. By default that is Parley's own base,
 * imported from this host's Node runtime once and tagged `parley/base:node-<version>-<hash of the
 * inputs>`; when the tag exists nothing is done. With `baseImage`, that image is used (pulled if
 * missing) and marked `prepared: false` unless it is itself labelled `parley.role=base`.
 *
 * Throws ParleyError Prerequisite when ldd is missing or `baseImage` cannot be had, and
 * ParleyError ImageBuild when the engine refuses the import.
 */
export async function ensureBaseImage(docker: Docker, options: EnsureBaseImageOptions = {}): Promise<BaseImage> {
  const { baseImage, onProgress } = options;
  if (baseImage !== undefined) return ensureOrdinaryImage(docker, baseImage, onProgress);

  const entries = await baseEntries();
  const tag = `node-${process.versions.node}-${await hashEntries(entries)}`;
  const ref = `${BASE_REPOSITORY}:${tag}`;
  const existing = await inspectImage(docker, ref);
  if (existing) return { ref, id: existing.Id, prepared: true };

  onProgress?.(`Building ${ref} from this machine's Node ${process.version} (${entries.length} entries)`);
  const archive = packEntries(entries);
  try {
    // Readable.from: dockerode pipes what it is given into the request, and wants a Node stream.
    const response = await docker.importImage(Readable.from(archive), {
      repo: BASE_REPOSITORY,
      tag,
      changes: IMAGE_CHANGES,
      message: `Parley base: Node ${process.version} from ${process.execPath}`,
    });
    await readProgress(response, onProgress);
  } catch (err) {
    archive.destroy();
    throw new ParleyError(ErrorCode.ImageBuild, `Could not import the Parley base image ${ref}: ${(err as Error).message}.`, { image: ref }, { cause: err });
  }
  const id = (await inspectImage(docker, ref))?.Id;
  if (id === undefined) throw new ParleyError(ErrorCode.ImageBuild, `The engine accepted the import of ${ref} but does not list it.`, { image: ref });
  onProgress?.(`Built ${ref} (${id.slice(0, 19)})`);
  return { ref, id, prepared: true };
}
