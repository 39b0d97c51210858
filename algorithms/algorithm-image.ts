/**
 * Builds an algorithm's image FROM the base with the engine's build API and an in-memory context:
 * a generated Dockerfile, the algorithm's files and the container library under /app. The tag is
 * a hash of everything that goes in, so an image is built once and rebuilt only when its sources
 * (or its base) change. With no registry, the image id is the content address a site allow-lists.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type Docker from 'dockerode';
import { ErrorCode, ParleyError } from '../common/errors.ts';
import { ContainerPath, Label, SANDBOX_USER } from '../activities/sandbox/contract.ts';
import { inspectImage, type BaseImage } from './base-image.ts';
import { readProgress, type OnProgress } from './docker-progress.ts';
import { packToBuffer, type TarEntry } from './tar-pack.ts';

export interface EnsureAlgorithmImageOptions {
  /** The image's repository name, e.g. `parley/secure-sum`. */
  name: string;
  /** The algorithm's folder; it must hold the entry point (`main.js` unless `entry` says otherwise). */
  sourceDir: string;
  /** What runs it: `js` (node, the default) or `python` (python3, with parley.py importable). */
  language?: AlgorithmLanguage;
  /** The entry point, relative to the folder: `main.js` or `main.py` by default. */
  entry?: string;
  /**
   * Labels beyond Parley's own (role, algorithm), e.g. the args schema `parley algorithm build`
   * records; part of the content hash. None by default, so the shipped images keep their digests.
   */
  labels?: Record<string, string>;
  /**
   * What to build FROM: ensureBaseImage's result, or an image reference. A reference is
   * inspected: an image labelled `parley.role=base` is used as is; any other is prepared with
   * a RUN step, so it needs a POSIX shell with grep, mkdir, chown and chmod (and `node` on PATH).
   */
  base: BaseImage | string;
  /** Top-level files or folders of `sourceDir` to leave out of the image (e.g. sample data). */
  exclude?: string[];
  onProgress?: OnProgress;
}

/** A built algorithm image. */
export interface AlgorithmImage {
  name: string;
  /** `<name>:<content hash>`. */
  ref: string;
  /** The image id (`sha256:…`): what a site allow-lists alongside the name. */
  digest: string;
  /** False when an image with the same content hash already existed, so nothing was built. */
  built?: boolean;
}

/** The languages an algorithm may be written in, and so what its image runs. */
export const AlgorithmLanguage = { Js: 'js', Python: 'python' } as const;
export type AlgorithmLanguage = (typeof AlgorithmLanguage)[keyof typeof AlgorithmLanguage];

/** The entry point when a build names none. */
export const DEFAULT_ENTRY: Record<AlgorithmLanguage, string> = { js: 'main.js', python: 'main.py' };

/** The in-container library, shipped in every image under /app/lib. */
const LIBRARY_FILES = ['parley.js', 'modular.js', 'count.js', 'values.js', 'skellam.js', 'privacy.js', 'dp-noise.js'];
/** Python's library (standard library only), on PYTHONPATH as `import parley`. */
const PYTHON_LIBRARY_FILES = ['parley.py'];
/** An entry point: a relative path of plain segments, so it cannot point outside /app. */
const ENTRY = /^[A-Za-z0-9_][A-Za-z0-9._-]*(?:\/[A-Za-z0-9_][A-Za-z0-9._-]*)*$/;
const LIBRARY_DIR = fileURLToPath(new URL('./lib/', import.meta.url));
const REPOSITORY = /^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$/;
// Test files and dotfiles stay out of the image; everything else in the folder goes in.
const EXCLUDED = /(^\.|\.test\.[a-z]+$)/;

/** /app/package.json: ESM, and `#parley` resolves to the library as it does in the repository. */
// The same map as algorithms/package.json: `#parley` is parley.js, `#parley/<name>` is <name>.js.
const LIBRARY_IMPORTS = Object.fromEntries(LIBRARY_FILES.map((f) => [f === 'parley.js' ? '#parley' : `#parley/${f.replace(/\.js$/, '')}`, `./lib/${f}`]));
const PACKAGE_JSON = `${JSON.stringify({ name: 'parley-algorithm', private: true, type: 'module', imports: LIBRARY_IMPORTS }, null, 2)}\n`;

/** The folder's regular files, relative and sorted; dotfiles, dot-folders and tests are left out. */
async function listFiles(dir: string, prefix = ''): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(join(dir, prefix), { withFileTypes: true })) {
    if (EXCLUDED.test(entry.name)) continue;
    const rel = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
    if (entry.isDirectory()) found.push(...(await listFiles(dir, rel)));
    else if (entry.isFile()) found.push(rel);
  }
  return found.sort();
}

/**
 * Steps that make an ordinary image (a site's PARLEY_BASE_IMAGE) meet the contract: the
 * sandbox user and the directories Parley's own base already has.
 */
function prepareSteps(): string[] {
  const { uid, gid, name } = SANDBOX_USER;
  const dirs = ['/tmp', ContainerPath.Data, ContainerPath.Input, ContainerPath.Volume, ContainerPath.App].join(' ');
  return [
    'USER 0:0',
    'RUN set -eu; ' +
      `grep -q '^${name}:' /etc/group || echo '${name}:x:${gid}:' >> /etc/group; ` +
      `grep -q '^${name}:' /etc/passwd || echo '${name}:x:${uid}:${gid}:Parley algorithm:${ContainerPath.App}:/sbin/nologin' >> /etc/passwd; ` +
      `mkdir -p ${dirs}; chown ${uid}:${gid} ${ContainerPath.Volume}; chmod 0700 ${ContainerPath.Volume}; chmod 1777 /tmp`,
  ];
}

/** A LABEL value in double quotes: escapes what the Dockerfile parser would read (\\, ", $). */
function quoteLabel(value: string): string {
  return `"${value.replace(/[\\"$]/g, (c) => `\\${c}`).replace(/\n/g, '\\n')}"`;
}

interface Build {
  name: string;
  language: AlgorithmLanguage;
  entry: string;
  labels: Record<string, string>;
  exclude: string[];
}

// The JavaScript lines are exactly those of the images Parley shipped before builds took a
// language: their digests are pinned by recorded histories (test/golden), so any change here
// must leave a default JavaScript build's Dockerfile byte for byte as it was.
function dockerfile(build: Build, base: BaseImage): string {
  const extraLabels = Object.keys(build.labels)
    .sort()
    .map((key) => `LABEL ${key}=${quoteLabel(build.labels[key]!)}`);
  const run = build.language === 'python' ? ['python3', `${ContainerPath.App}/${build.entry}`] : ['node', `${ContainerPath.App}/${build.entry}`];
  return [
    `FROM ${base.ref}`,
    ...(base.prepared ? [] : prepareSteps()),
    `COPY app/ ${ContainerPath.App}/`,
    ...(build.language === 'python' ? [`ENV PYTHONPATH=${ContainerPath.App}/lib PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1`] : []),
    `USER ${SANDBOX_USER.uid}:${SANDBOX_USER.gid}`,
    `WORKDIR ${ContainerPath.App}`,
    `LABEL ${Label.Role}=algorithm ${Label.Algorithm}=${build.name}`,
    ...extraLabels,
    `ENTRYPOINT ${JSON.stringify(run).replace(/","/g, '", "')}`,
    '',
  ].join('\n');
}

async function contextEntries(build: Build, sourceDir: string, base: BaseImage): Promise<TarEntry[]> {
  const { name, entry, language } = build;
  const excluded = new Set(build.exclude);
  const files = (await listFiles(sourceDir)).filter((f) => !excluded.has(f.split('/')[0]!));
  if (!files.includes(entry)) {
    throw new ParleyError(ErrorCode.InvalidInput, `Algorithm ${name} has no ${entry} in ${sourceDir}: the image's entry point is /app/${entry}.`, { image: name });
  }
  const python = language === 'python';
  const library = python ? PYTHON_LIBRARY_FILES : LIBRARY_FILES;
  for (const reserved of [...(python ? [] : ['package.json']), ...library.map((f) => `lib/${f}`)]) {
    if (files.includes(reserved)) {
      throw new ParleyError(
        ErrorCode.InvalidInput,
        `Algorithm ${name} has its own ${reserved} in ${sourceDir}; Parley generates /app/${reserved}. Remove or rename it.`,
        { image: name },
      );
    }
  }
  const root = { uid: 0, gid: 0 };
  const file = (path: string, content: Buffer): TarEntry => ({ path, type: 'file', mode: 0o644, ...root, content });
  const entries: TarEntry[] = [
    file('Dockerfile', Buffer.from(dockerfile(build, base))),
    { path: 'app', type: 'directory', mode: 0o755, ...root },
    ...(python ? [] : [file('app/package.json', Buffer.from(PACKAGE_JSON))]),
    { path: 'app/lib', type: 'directory', mode: 0o755, ...root },
    ...(await Promise.all(library.map(async (f) => file(`app/lib/${f}`, await readFile(join(LIBRARY_DIR, f)))))),
  ];
  const dirs = new Set(['app', 'app/lib']);
  for (const rel of files) {
    const parts = rel.split('/');
    for (let i = 1; i < parts.length; i++) {
      const dir = `app/${parts.slice(0, i).join('/')}`;
      if (!dirs.has(dir)) entries.push({ path: dir, type: 'directory', mode: 0o755, ...root });
      dirs.add(dir);
    }
    entries.push(file(`app/${rel}`, await readFile(join(sourceDir, rel))));
  }
  return entries;
}

function contentHash(entries: TarEntry[], base: BaseImage): string {
  const hash = createHash('sha256').update(`base ${base.id}\n`);
  for (const e of entries) {
    hash.update(`${e.type} ${e.path} ${e.mode.toString(8)} ${e.content ? createHash('sha256').update(e.content).digest('hex') : ''}\n`);
  }
  return hash.digest('hex').slice(0, 16);
}


async function resolveBase(docker: Docker, base: BaseImage | string): Promise<BaseImage> {
  const ref = typeof base === 'string' ? base : base.ref;
  // It becomes the Dockerfile's FROM line: one token, or it could smuggle in instructions.
  if (!/^\S+$/.test(ref)) throw new TypeError(`"${ref}" is not an image reference.`);
  if (typeof base !== 'string') return base;
  const info = await inspectImage(docker, base);
  if (!info) {
    throw new ParleyError(ErrorCode.Prerequisite, `Base image ${base} is not on this Docker engine. Build it with ensureBaseImage, or pull it first.`, { image: base });
  }
  return { ref: base, id: info.Id, prepared: info.Config?.Labels?.[Label.Role] === 'base' };
}

/**
 * Returns the algorithm's image, building it when no image with its content hash exists.
 * Build output goes to `onProgress`.
 *
 * Throws TypeError for a name that is not a Docker repository name (or a bad language, entry or
 * label); ParleyError InvalidInput when the folder has no entry point or has a file Parley generates; ParleyError Prerequisite when a base
 * given by reference is not on the engine; ParleyError ImageBuild, naming the
 * image and the engine's error line, when the build fails.
 */
export async function ensureAlgorithmImage(docker: Docker, options: EnsureAlgorithmImageOptions): Promise<AlgorithmImage> {
  const { name, sourceDir, onProgress } = options;
  if (!REPOSITORY.test(name)) throw new TypeError(`"${name}" is not a Docker repository name (lowercase, digits, ".", "_", "-", "/").`);
  const language = options.language ?? 'js';
  if (!Object.values(AlgorithmLanguage).includes(language)) throw new TypeError(`"${language}" is not a language Parley builds (js or python).`);
  const entry = options.entry ?? DEFAULT_ENTRY[language];
  if (!ENTRY.test(entry)) throw new TypeError(`Entry point "${entry}" is not a relative path of plain segments inside the algorithm's folder.`);
  const labels = options.labels ?? {};
  for (const key of Object.keys(labels)) {
    if (!/^[a-z0-9][a-z0-9.-]*$/.test(key) || key === Label.Role || key === Label.Algorithm) throw new TypeError(`"${key}" is not a label a build may set.`);
  }
  const base = await resolveBase(docker, options.base);
  const entries = await contextEntries({ name, language, entry, labels, exclude: options.exclude ?? [] }, sourceDir, base);
  const ref = `${name}:${contentHash(entries, base)}`;
  const existing = await inspectImage(docker, ref);
  if (existing) return { name, ref, digest: existing.Id, built: false };

  onProgress?.(`Building ${ref} FROM ${base.ref}`);
  try {
    // No network during the build: nothing in it should fetch anything (and there may be no registry).
    const context = Readable.from([await packToBuffer(entries)]);
    const stream = await docker.buildImage(context, { t: ref, rm: true, forcerm: true, networkmode: 'none' });
    await readProgress(stream, onProgress);
  } catch (err) {
    throw new ParleyError(
      ErrorCode.ImageBuild,
      `Could not build algorithm image ${ref} from ${sourceDir}: ${(err as Error).message}. ` +
        `Check the algorithm's files, and that base image ${base.ref} is on this engine${base.prepared ? '' : ' and has a POSIX shell (an ordinary base is prepared with a RUN step)'}.`,
      { image: ref, base: base.ref },
      { cause: err },
    );
  }
  const digest = (await inspectImage(docker, ref))?.Id;
  if (digest === undefined) throw new ParleyError(ErrorCode.ImageBuild, `The engine built ${ref} but does not list it.`, { image: ref });
  return { name, ref, digest, built: true };
}
