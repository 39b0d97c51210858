/**
 * Writes a file so that readers see the old content or the new, never half of it, and a crash
 * leaves no partial file behind: a private temporary file beside the target, synced, renamed
 * over it. Node-only: for workers, activities and the CLI, never for workflows.
 */
import { randomBytes } from 'node:crypto';
import { chmod, open, rename, rm } from 'node:fs/promises';

/** Writes `data` to `file` atomically, with `mode` (default 0644) whatever the umask widens. */
export async function writeFileAtomically(file: string, data: string | Uint8Array, options: { mode?: number } = {}): Promise<void> {
  const mode = options.mode ?? 0o644;
  const temporary = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    const handle = await open(temporary, 'wx', mode);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    // The umask can only narrow the mode; this makes sure nothing else widened it.
    await chmod(temporary, mode);
    await rename(temporary, file);
  } catch (err) {
    await rm(temporary, { force: true });
    throw err;
  }
}
