/**
 * Writes a file so that readers see the old content or the new, never half of it, and a crash
 * leaves no partial file behind: a private temporary file beside the target, synced, renamed
 * over it. Node-only: for workers, activities and the CLI, never for workflows.
 *
 * Only the fsync is asynchronous. The other calls take microseconds in the page cache, while
 * asynchronous ones each wait in libuv's thread pool (four threads) behind every fsync the
 * process has under way: a site worker's ledgers write once per step (issue 17).
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, fsync, openSync, renameSync, rmSync, writeFileSync } from 'node:fs';

/** Writes `data` to `file` atomically, with `mode` (default 0644) whatever the umask widens. */
export async function writeFileAtomically(file: string, data: string | Uint8Array, options: { mode?: number } = {}): Promise<void> {
  const mode = options.mode ?? 0o644;
  const temporary = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    const fd = openSync(temporary, 'wx', mode);
    try {
      writeFileSync(fd, data);
      await new Promise<void>((resolve, reject) => fsync(fd, (err) => (err ? reject(err) : resolve())));
    } finally {
      closeSync(fd);
    }
    // The umask can only narrow the mode; this makes sure nothing else widened it.
    chmodSync(temporary, mode);
    renameSync(temporary, file);
  } catch (err) {
    rmSync(temporary, { force: true });
    throw err;
  }
}
