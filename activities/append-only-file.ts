/**
 * The one durable shape the site's ledgers share (activities/release-ledger.ts,
 * activities/privacy-budget.ts): a file of JSON lines, only ever appended, each append fsynced
 * before the caller goes on. A crash mid-append leaves at most a torn last line (no newline
 * after it); readers ignore it and the next append cuts it off first, so records never run
 * together and one append is all of its record or none of it.
 */
import { ErrorCode, ParleyError } from '../common/errors.ts';
import { open, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * Appends `line` and a newline to `file` (created 0600), and fsyncs it; first cuts off a torn
 * last line. When it creates the file it also fsyncs the directory, so the file's name survives
 * a power cut as well as its content.
 */
export async function appendLine(file: string, line: string): Promise<void> {
  if (line.includes('\n')) throw new TypeError('appendLine: a record must be one line.');
  const handle = await open(file, 'a+', 0o600);
  let created = false;
  try {
    const { size } = await handle.stat();
    created = size === 0;
    if (size > 0) {
      const last = Buffer.alloc(1);
      await handle.read(last, 0, 1, size - 1);
      if (last[0] !== 0x0a) {
        const text = await readFile(file);
        await handle.truncate(text.lastIndexOf(0x0a) + 1);
      }
    }
    await handle.writeFile(`${line}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  if (created) await syncDirectory(dirname(file));
}

/**
 * The complete lines of `file`, in order, without the torn last line a crash may have left;
 * none when the file does not exist.
 */
export async function readCompleteLines(file: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const lines = text.split('\n');
  // Whatever follows the last newline is a line whose append did not finish.
  lines.pop();
  return lines;
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * The records of a JSON-lines ledger, parsed by `parse`, in the order they were appended.
 * @param consequence what the site stops doing while a line is unreadable, for the message.
 * @throws ParleyError InvalidInput naming the file and the line when a complete line is not a record.
 */
export async function readRecords<T>(file: string, what: string, consequence: string, parse: (line: string) => T | undefined): Promise<T[]> {
  const lines = await readCompleteLines(file);
  return lines.map((line, i) => {
    const record = parse(line);
    if (record === undefined) {
      throw new ParleyError(ErrorCode.InvalidInput, `The ${what} ${file} has an unreadable line ${i + 1}. ${consequence}: restore the file from a backup.`, { path: file, line: i + 1 });
    }
    return record;
  });
}
