/**
 * `parley algorithm new`: a working algorithm to start from, copied from algorithms/templates/
 * (<language>/): its entry point, a manifest, a sample dataset under samples/ (never shipped in
 * the image) and a test that runs it under the sandbox and checks its output.
 */
import { copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ErrorCode, ParleyError } from '../common/errors.ts';
import type { AlgorithmLanguage } from './algorithm-image.ts';
import { MANIFEST_FILE } from './algorithm-manifest.ts';

const TEMPLATES = fileURLToPath(new URL('./templates/', import.meta.url));
const REPOSITORY = /^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$/;

/** An image name from a folder's name: `local/<folder>`, lowercased, other characters as "-". */
export function defaultAlgorithmName(dir: string): string {
  const slug = basename(resolve(dir))
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return `local/${slug || 'algorithm'}`;
}

async function templateFiles(dir: string, prefix = ''): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(join(dir, prefix), { withFileTypes: true })) {
    const rel = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
    if (entry.isDirectory()) found.push(...(await templateFiles(dir, rel)));
    else found.push(rel);
  }
  return found.sort();
}

/**
 * Writes a new algorithm into `dir` (created; it must not exist or be empty) and returns the
 * files written, relative to it. Throws TypeError for a bad name, ParleyError InvalidInput when
 * `dir` already holds files.
 */
export async function scaffoldAlgorithm(dir: string, options: { language: AlgorithmLanguage; name?: string }): Promise<{ name: string; files: string[] }> {
  const name = options.name ?? defaultAlgorithmName(dir);
  if (!REPOSITORY.test(name)) throw new TypeError(`"${name}" is not a Docker repository name (lowercase, digits, ".", "_", "-", "/").`);
  const existing = await readdir(dir).catch(() => []);
  if (existing.length > 0) {
    throw new ParleyError(ErrorCode.InvalidInput, `${dir} already holds files; \`parley algorithm new\` writes only into a new or empty folder. Choose another folder.`, { dir });
  }
  const source = join(TEMPLATES, options.language);
  const files = await templateFiles(source);
  for (const rel of files) {
    await mkdir(join(dir, rel, '..'), { recursive: true });
    if (rel === MANIFEST_FILE) {
      await writeFile(join(dir, rel), (await readFile(join(source, rel), 'utf8')).replaceAll('{{name}}', name));
    } else {
      await copyFile(join(source, rel), join(dir, rel));
    }
  }
  return { name, files };
}
