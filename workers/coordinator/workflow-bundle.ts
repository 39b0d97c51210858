/**
 * The coordinator's workflow bundle, built once per version of the workflow sources and kept
 * in Parley's cache: bundling takes seconds, loading a cached bundle milliseconds.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode, type WorkflowBundle } from '@temporalio/worker';
import { writeFileAtomically } from '../../common/write-file-atomically.ts';
import { FAILURE_CONVERTER_PATH } from '../../activities/failure-codec.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
/** Everything the bundle is made of: workflows and the shared types/ids/errors they import. */
const SOURCE_DIRS = ['workflows', 'common'];
const SOURCE_FILES = ['activities/types.ts', 'package-lock.json', 'activities/failure-converter.cjs'];

async function sourcesHash(): Promise<string> {
  const hash = createHash('sha256');
  const files: string[] = [...SOURCE_FILES];
  for (const dir of SOURCE_DIRS) {
    // Recursive: workflows/protocols/ and any later subfolder are part of the bundle too.
    for (const name of await readdir(join(root, dir), { recursive: true })) {
      if (name.endsWith('.ts') && !name.endsWith('.test.ts')) files.push(join(dir, name));
    }
  }
  for (const file of files.sort()) {
    hash.update(file).update('\0').update(await readFile(join(root, file))).update('\0');
  }
  return hash.digest('hex').slice(0, 24);
}

let memo: Promise<WorkflowBundle> | undefined;

/** Returns the workflow bundle, from memory, from the cache, or freshly built. */
export function workflowBundle(cacheDir = join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'parley', 'workflows')): Promise<WorkflowBundle> {
  memo ??= loadOrBuild(cacheDir);
  return memo;
}

async function loadOrBuild(cacheDir: string): Promise<WorkflowBundle> {
  const file = join(cacheDir, `bundle-${await sourcesHash()}.js`);
  try {
    return { code: await readFile(file, 'utf8') };
  } catch {
    // not cached yet
  }
  const bundle = await bundleWorkflowCode({
    workflowsPath: join(root, 'workflows', 'index.ts'),
    // Workflow failures carry their message and stack trace as an encoded payload too.
    failureConverterPath: FAILURE_CONVERTER_PATH,
    logger: { trace() {}, debug() {}, info() {}, warn() {}, error() {}, log() {} },
  });
  await mkdir(cacheDir, { recursive: true });
  await writeFileAtomically(file, bundle.code);
  return { code: bundle.code };
}
