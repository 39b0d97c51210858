/**
 * Closing a connection whose request body was not read, without losing the answer.
 *
 * The API answers some requests before their body has arrived: a 413 for a body over the limit
 * (known from Content-Length alone), a 401 before a large body. Node then closes the socket as
 * soon as the answer is written (`socket.destroySoon()`). Bytes of the body still arriving at a
 * closed socket make the kernel answer with a reset (RFC 9293 §3.6.1: data received after close
 * is answered with RST), and a reset makes the client's stack drop what it has not read yet —
 * the very answer it was sent. About one such request in ten lost its 413 that way.
 *
 * The cure is the "lingering close" of RFC 9112 §9.6: send the answer with `Connection: close`,
 * close only our sending side (FIN after the answer), read and discard what the client still
 * sends, and close fully when the client closes its side — or, so that a client cannot hold the
 * server's memory or sockets, once a bound is reached (bytes discarded, time idle, time in all).
 * A reset after that bound can only reach a client that has had the answer for seconds.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9112#section-9.6
 * @see https://www.rfc-editor.org/rfc/rfc9293#section-3.6.1
 */
import type { IncomingMessage, Server } from 'node:http';
import { Socket } from 'node:net';

/** How long and how much the server listens after its answer before it closes anyway. */
export interface LingerBounds {
  /** Most bytes read and discarded after the answer. */
  maxBytes: number;
  /** Close when the client has sent nothing for this long, ms. */
  idleMs: number;
  /** Close this long after the answer whatever the client does, ms. */
  maxMs: number;
}

/**
 * 64 MiB and 30 s in all (nginx's lingering_time), 5 s without a byte (its lingering_timeout):
 * more than any upload the API refuses needs to finish on a local or LAN link, and small enough
 * that slow or endless senders cannot pile up.
 */
export const DEFAULT_LINGER: Readonly<LingerBounds> = { maxBytes: 64 * 1024 * 1024, idleMs: 5_000, maxMs: 30_000 };

/**
 * How often a lingering connection's bounds are looked at. A timer, not an event: the HTTP parser
 * reads the socket natively (no data events on the socket), and Node drops a dumped request's body
 * chunks without emitting them, so the bytes read show only in socket.bytesRead. The timer lives
 * only while one connection lingers (at most maxMs), so the byte bound is overshot by at most what
 * arrives in one tick.
 */
const TICK_MS = 100;

/** Discards the rest of `request`'s body as it arrives, so nothing buffers it and nothing pauses the socket. */
function discardBody(request: IncomingMessage): void {
  // Whatever was reading the body (the web stream of the request the app saw) has stopped for
  // good: the answer is out. Without a reader the parser would pause the socket, and a paused
  // socket cannot take in what the client is still sending.
  request.removeAllListeners('data');
  request.on('error', () => {});
  request.resume();
}

/** Ends our side, reads until the client ends its own or a bound is reached, then closes. */
function linger(socket: Socket, request: IncomingMessage, bounds: LingerBounds): void {
  discardBody(request);
  socket.resume();
  // Sends what is written, then FIN: the client reads the whole answer before we close anything.
  socket.end();
  const start = { at: Date.now(), bytes: socket.bytesRead };
  let idleSince = start.at;
  let lastRead = start.bytes;
  const close = (): void => {
    clearInterval(timer);
    socket.destroy();
  };
  const timer = setInterval(() => {
    const now = Date.now();
    if (socket.bytesRead !== lastRead) [lastRead, idleSince] = [socket.bytesRead, now];
    if (lastRead - start.bytes > bounds.maxBytes || now - idleSince > bounds.idleMs || now - start.at > bounds.maxMs) close();
  }, TICK_MS);
  timer.unref();
  socket.once('close', () => clearInterval(timer));
  // The client has ended its side: nothing more can arrive, so closing cannot reset anything.
  const closeWhenFlushed = (): void => (socket.writableFinished ? close() : void socket.once('finish', close));
  if (socket.readableEnded) closeWhenFlushed();
  else socket.once('end', closeWhenFlushed);
}

/**
 * Makes `server` close connections with a lingering close (see the module doc) wherever Node
 * would close one with its request body unread. Connections whose request was read whole close
 * at once, as before.
 */
export function closeConnectionsGently(server: Server, bounds: LingerBounds = DEFAULT_LINGER): void {
  const lastRequest = new WeakMap<Socket, IncomingMessage>();
  server.on('request', (request: IncomingMessage) => lastRequest.set(request.socket, request));
  server.on('connection', (socket: Socket) => {
    let lingering = false;
    // Node's http server closes a connection after its last answer through destroySoon() (and
    // @hono/node-server does when a body it drains runs long); this is the one place to step in.
    socket.destroySoon = () => {
      if (lingering) return;
      const request = lastRequest.get(socket);
      if (request === undefined || request.complete || socket.readableEnded) return Socket.prototype.destroySoon.call(socket);
      lingering = true;
      linger(socket, request, bounds);
    };
  });
}
