/**
 * HTTP/1.1 over a plain TCP socket, for tests of what a server does on the wire: when it answers,
 * whether the answer arrives whole, and whether the connection ends with FIN or is reset.
 * Fetch clients hide exactly that (a reset becomes a generic "fetch failed").
 */
import { connect, type Socket } from 'node:net';

/** One response as read off the socket. */
export interface RawResponse {
  status: number;
  /** Header names lower-cased. */
  headers: Record<string, string>;
  body: string;
}

/** How a connection ended, once the server is done with it. */
export interface RawEnding {
  /** The server closed its side cleanly (FIN) rather than the connection being reset. */
  closedByServer: boolean;
  /** The socket error, e.g. ECONNRESET or EPIPE, if one came. */
  error?: string;
}

/** A client connection that reads everything the server sends while it writes. */
export interface RawConnection {
  socket: Socket;
  /** Resolves with the next complete response (Content-Length framed), or rejects when the connection ends first. */
  nextResponse(): Promise<RawResponse>;
  /** Resolves when the connection has ended, saying how. */
  ended: Promise<RawEnding>;
  /** Writes, ignoring a write refused because the server has closed (`ended` reports it). */
  write(data: string | Buffer): Promise<void>;
}

/** Parses one response at the start of `buffer`, if it is all there. */
function parseResponse(buffer: Buffer): { response: RawResponse; length: number } | undefined {
  const headEnd = buffer.indexOf('\r\n\r\n');
  if (headEnd < 0) return undefined;
  const [statusLine = '', ...lines] = buffer.subarray(0, headEnd).toString('latin1').split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const length = Number(headers['content-length'] ?? NaN);
  if (!Number.isInteger(length)) throw new Error(`The response has no Content-Length (status line "${statusLine}"); this client reads only length-framed responses.`);
  const total = headEnd + 4 + length;
  if (buffer.length < total) return undefined;
  return { response: { status: Number(statusLine.split(' ')[1]), headers, body: buffer.subarray(headEnd + 4, total).toString('utf8') }, length: total };
}

export interface RawConnectOptions {
  /**
   * Keep writing after the server has closed its side, ending ours only when told (`socket.end()`),
   * as an uploading client does that reads no answer until its body is sent. Default: end ours as
   * soon as the server ends its own.
   */
  writeAfterServerEnds?: boolean;
}

/** Opens a connection to `url`'s host and port. */
export function rawConnect(url: string, options: RawConnectOptions = {}): Promise<RawConnection> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port), allowHalfOpen: true });
    let buffer = Buffer.alloc(0);
    let waiting: { resolve: (r: RawResponse) => void; reject: (e: Error) => void } | undefined;
    let closedByServer = false;
    let error: string | undefined;
    const deliver = (): void => {
      if (!waiting) return;
      let parsed: ReturnType<typeof parseResponse>;
      try {
        parsed = parseResponse(buffer);
      } catch (err) {
        waiting.reject(err as Error);
        waiting = undefined;
        return;
      }
      if (!parsed) return;
      buffer = buffer.subarray(parsed.length);
      const w = waiting;
      waiting = undefined;
      w.resolve(parsed.response);
    };
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      deliver();
    });
    socket.on('end', () => {
      closedByServer = true;
      // Half-closed by the server: finish our side too, as a client told `Connection: close` does.
      if (!options.writeAfterServerEnds) socket.end();
    });
    socket.on('error', (err: NodeJS.ErrnoException) => (error ??= err.code ?? err.message));
    const ended = new Promise<RawEnding>((done) => socket.on('close', () => {
      waiting?.reject(new Error(`The connection ended before a complete response (${error ?? 'closed'}; ${buffer.length} bytes unparsed).`));
      waiting = undefined;
      done({ closedByServer, ...(error ? { error } : {}) });
    }));
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve({
        socket,
        ended,
        nextResponse: () => new Promise<RawResponse>((res, rej) => {
          if (socket.destroyed) return rej(new Error(`The connection ended before a complete response (${error ?? 'closed'}).`));
          waiting = { resolve: res, reject: rej };
          deliver();
        }),
        write: (data) => new Promise<void>((done) => {
          if (socket.destroyed || socket.writableEnded) return done();
          socket.write(data, () => done());
        }),
      });
    });
    socket.once('error', reject);
  });
}
