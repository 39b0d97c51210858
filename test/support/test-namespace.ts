/**
 * One Temporal namespace per test file, so no test file can see another's workflows, task
 * queues or workers — by construction, not by everyone choosing unique names. The name is the
 * file's path in the repository, encoded one-to-one (two paths never give one name); the global
 * setup (global-setup.ts) creates the namespace of every test file before any file runs.
 *
 * A test file uses its own with `testNamespace(import.meta.url)`: pass it to startLocalCluster,
 * `new Client({ namespace })`, and as TEMPORAL_NAMESPACE to a child process.
 */
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * The namespace of the test file at `file` (a file: URL, e.g. import.meta.url, or a path):
 * `test.` then its repository path with `_` written `_u` and `/` written `_s`, which is
 * reversible, and uses only characters Temporal allows in a namespace name.
 * Throws TypeError for a file outside the repository.
 */
export function testNamespace(file: string): string {
  const path = relative(ROOT, file.startsWith('file:') ? fileURLToPath(file) : file);
  if (path.startsWith('..') || path === '') throw new TypeError(`${file} is not a file of this repository, so it has no test namespace.`);
  return `test.${path.replaceAll('\\', '/').replaceAll('_', '_u').replaceAll('/', '_s')}`;
}
