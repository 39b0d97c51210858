/**
 * The lingering close on a real HTTP server and real sockets: the answer arrives whole before the
 * connection closes, and a client that never stops sending is cut off at the bound.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { closeConnectionsGently } from '../common/lingering-close.ts';
import { rawConnect } from './testing/raw-http.ts';

let server: Server | undefined;

afterEach(async () => {
  await new Promise((done) => server?.close(done) ?? done(undefined));
  server = undefined;
});

/** A server that refuses every body at once, before reading it, as the API's body limit does. */
async function refusingServer(bounds: Parameters<typeof closeConnectionsGently>[1]): Promise<string> {
  server = createServer((_req, res) => res.writeHead(413, { 'content-type': 'application/json', 'content-length': 16, connection: 'close' }).end('{"refused":true}'));
  closeConnectionsGently(server, bounds);
  await new Promise<void>((done) => server!.listen(0, '127.0.0.1', done));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const CHUNK = Buffer.alloc(64 * 1024, 0x61);

/** Resolves with how long the server took to close every connection it holds. */
async function allClosedWithin(limitMs: number): Promise<number> {
  const started = Date.now();
  for (;;) {
    const open = await new Promise<number>((done, fail) => server!.getConnections((err, n) => (err ? fail(err) : done(n))));
    if (open === 0) return Date.now() - started;
    if (Date.now() - started > limitMs) throw new Error(`The server still holds ${open} connection(s) after ${limitMs} ms.`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('closeConnectionsGently', () => {
  it('cuts off a client that never stops sending once it has discarded the most bytes it may, after the answer arrived whole', async () => {
    const url = await refusingServer({ maxBytes: 2 * 1024 * 1024, idleMs: 5_000, maxMs: 20_000 });
    const connection = await rawConnect(url, { writeAfterServerEnds: true });
    await connection.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\n');
    const answer = connection.nextResponse();
    let sent = 0;
    const started = Date.now();
    while (!connection.socket.destroyed && Date.now() - started < 15_000) {
      await connection.write(CHUNK);
      sent += CHUNK.length;
    }
    expect(await answer).toMatchObject({ status: 413, body: '{"refused":true}', headers: { connection: 'close' } });
    const ending = await connection.ended;
    expect(ending.closedByServer).toBe(true);
    // Cut off at the byte bound (plus what the socket buffers held and what arrived within one
    // check of the bound: loopback moves hundreds of MB a second on a loaded machine), long before
    // the gigabyte the client announced.
    expect(sent).toBeGreaterThan(2 * 1024 * 1024);
    expect(sent).toBeLessThan(512 * 1024 * 1024);
  });

  it('closes its side of a connection whose client sends nothing more once it has been idle for the bound', async () => {
    const url = await refusingServer({ maxBytes: 64 * 1024 * 1024, idleMs: 500, maxMs: 20_000 });
    const connection = await rawConnect(url, { writeAfterServerEnds: true });
    await connection.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n');
    await connection.write(CHUNK);
    expect((await connection.nextResponse()).status).toBe(413);
    // The client neither sends nor closes: the server lets go after the idle bound, not at its 20 s.
    const closedAfter = await allClosedWithin(5_000);
    expect(closedAfter).toBeGreaterThan(300);
    connection.socket.destroy();
  });

  it('closes at once, as before, a connection whose request was answered after its body was read', async () => {
    server = createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(413, { 'content-length': 2, connection: 'close' }).end('no'));
    });
    closeConnectionsGently(server, { maxBytes: 64 * 1024 * 1024, idleMs: 10_000, maxMs: 20_000 });
    await new Promise<void>((done) => server!.listen(0, '127.0.0.1', done));
    const connection = await rawConnect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, { writeAfterServerEnds: true });
    await connection.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello');
    expect((await connection.nextResponse()).status).toBe(413);
    expect(await allClosedWithin(1_000)).toBeLessThan(1_000);
    connection.socket.destroy();
  });
});
