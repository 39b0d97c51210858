/**
 * Writes a tar stream from a list of entries, each with an explicit owner and mode. Images are
 * built from these streams, so nothing about the host's files (their owner, umask, timestamps)
 * leaks into an image unless it is listed here.
 */
import { createReadStream } from 'node:fs';
import { once } from 'node:events';
import tar from 'tar-stream';

/** One file or directory in the archive. `path` is absolute inside the image (`/etc/passwd`). */
export interface TarEntry {
  path: string;
  type: 'file' | 'directory';
  mode: number;
  uid: number;
  gid: number;
  /** The file's bytes, or… */
  content?: Buffer;
  /** …a host file to stream (large files such as the Node binary), with its size. */
  source?: { path: string; size: number };
}

// A fixed timestamp: archives (and so image layers) do not change just because they were rebuilt.
const EPOCH = new Date(Date.UTC(2000, 0, 1));

async function writeEntry(pack: tar.Pack, entry: TarEntry): Promise<void> {
  const name = entry.path.replace(/^\/+/, '');
  const header = { name, type: entry.type, mode: entry.mode, uid: entry.uid, gid: entry.gid, mtime: EPOCH, uname: '', gname: '' };
  if (entry.type === 'directory') {
    await new Promise<void>((resolve, reject) => pack.entry(header, (err) => (err ? reject(err) : resolve())));
    return;
  }
  const { content } = entry;
  if (content) {
    await new Promise<void>((resolve, reject) => pack.entry(header, content, (err) => (err ? reject(err) : resolve())));
    return;
  }
  if (!entry.source) throw new TypeError(`tar entry ${entry.path} has neither content nor source`);
  let settle!: (err?: Error | null) => void;
  const written = new Promise<void>((resolve, reject) => {
    settle = (err) => (err ? reject(err) : resolve());
  });
  // Its size is in the header already written: a file that grew or shrank since makes tar-stream fail the entry.
  const sink = pack.entry({ ...header, size: entry.source.size }, (err) => settle(err));
  for await (const chunk of createReadStream(entry.source.path)) {
    if (!sink.write(chunk as Buffer)) await once(sink, 'drain');
  }
  sink.end(Buffer.alloc(0));
  await written;
}

/**
 * Returns a tar stream of `entries`, in order, written as the reader consumes it (so a 100 MB
 * binary is never held in memory). A file that cannot be read, or whose size changed since it
 * was listed, destroys the stream with that error.
 */
export function packEntries(entries: TarEntry[]): tar.Pack {
  const pack = tar.pack();
  void (async () => {
    for (const entry of entries) await writeEntry(pack, entry);
    pack.finalize();
  })().catch((err: unknown) => pack.destroy(err instanceof Error ? err : new Error(String(err))));
  return pack;
}

/** Collects a small archive (a build context) into one buffer. */
export async function packToBuffer(entries: TarEntry[]): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of packEntries(entries)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
