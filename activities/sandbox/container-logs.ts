/**
 * Reads the last lines a container wrote. Without a TTY the engine multiplexes stdout and stderr
 * into frames (an 8-byte header: stream, 3 zero bytes, big-endian length), which must be taken
 * apart before the bytes are text.
 */
import type Docker from 'dockerode';

// Long enough for a stack trace's line, short enough that a runaway line cannot flood a report.
const MAX_LINE_CHARS = 2000;

/** Splits an engine log buffer into its payloads, in order. A buffer with no frame header is returned whole. */
export function demultiplex(buffer: Buffer): Buffer[] {
  const looksFramed = buffer.length >= 8 && buffer[0]! <= 2 && buffer[1] === 0 && buffer[2] === 0 && buffer[3] === 0;
  if (!looksFramed) return buffer.length > 0 ? [buffer] : [];
  const payloads: Buffer[] = [];
  let offset = 0;
  while (offset + 8 <= buffer.length) {
    const size = buffer.readUInt32BE(offset + 4);
    payloads.push(buffer.subarray(offset + 8, offset + 8 + size));
    offset += 8 + size;
  }
  return payloads;
}

/** The last `lines` lines of `text`, without trailing empty lines, each cut to a sane length. */
export function lastLines(text: string, lines: number): string[] {
  const all = text.split('\n').map((line) => line.replace(/\r$/, ''));
  while (all.length > 0 && all[all.length - 1] === '') all.pop();
  return all.slice(-lines).map((line) => (line.length > MAX_LINE_CHARS ? `${line.slice(0, MAX_LINE_CHARS)}…` : line));
}

/**
 * The container's last `lines` lines of stdout and stderr together, in the order the engine logged them
 * (stdout and stderr travel separate pipes, so lines written to both at nearly the same moment may
 * swap places).
 * Throws the engine's error (e.g. 404 when the container is gone).
 */
export async function readLogTail(container: Docker.Container, lines: number): Promise<string[]> {
  const raw = (await container.logs({ stdout: true, stderr: true, follow: false, tail: lines })) as unknown as Buffer;
  const text = Buffer.concat(demultiplex(Buffer.isBuffer(raw) ? raw : Buffer.from(String(raw)))).toString('utf8');
  return lastLines(text, lines);
}
