/**
 * A test algorithm that reads files back from its run volume, so tests can check what an earlier
 * step of the run left there. Not for production allow-lists: it outputs what it reads.
 *
 * Args: { files: string[] }. Output: { [file]: { mode: '600', text } | null } (null when absent).
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { args, fail, output, volumePath } from '#parley';

const files = Array.isArray(args.files) ? args.files : fail('args.files must be a list of file names in the run volume.');
const read = {};
for (const file of files) {
  const path = join(volumePath, String(file).replace(/[/\\]/g, '_'));
  try {
    read[file] = { mode: (statSync(path).mode & 0o777).toString(8), text: readFileSync(path, 'utf8') };
  } catch {
    read[file] = null;
  }
}
await output(read);
