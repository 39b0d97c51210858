/**
 * An oversized body on real sockets: the API over startServer, hundreds of clients at once on
 * fresh and keep-alive connections, bodies of megabytes sent fast, slowly, length-framed and
 * chunked. Every one must get the whole 413 problem document and a clean close — never a reset
 * that throws the answer away before the client has read it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../common/errors.ts';
import { openDatabase } from '../db/client.ts';
import { startServer, type RunningServer } from './server.ts';
import { useApiHarness } from './testing/harness.ts';
import { rawConnect, type RawConnection, type RawResponse } from './testing/raw-http.ts';

const h = useApiHarness('oversized-body', () => openDatabase());
let server: RunningServer;

beforeAll(async () => {
  server = await startServer(h().app);
});

afterAll(async () => {
  await server?.close();
});

const MiB = 1024 * 1024;
const CHUNK = Buffer.alloc(256 * 1024, 0x61);

/** How one client sends its oversized body. */
interface Sending {
  keepAlive: boolean;
  chunked: boolean;
  slow: boolean;
  /** Sends the whole body whatever the server does (as an upload that reads no answer until sent). */
  stubborn: boolean;
  bytes: number;
}

function sendingOf(i: number): Sending {
  return { keepAlive: i % 2 === 0, chunked: i % 5 === 0, slow: i % 3 === 0, stubborn: i % 4 < 2, bytes: (2 + (i % 5)) * MiB };
}

async function sendBody(connection: RawConnection, how: Sending, answered: () => boolean): Promise<void> {
  for (let sent = 0; sent < how.bytes; sent += CHUNK.length) {
    if (!how.stubborn && answered()) break;
    const chunk = CHUNK.subarray(0, Math.min(CHUNK.length, how.bytes - sent));
    await connection.write(how.chunked ? Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]) : chunk);
    if (how.slow) await new Promise((resolve) => setTimeout(resolve, 20));
  }
  if (how.chunked) await connection.write('0\r\n\r\n');
}

/** One client: optionally a first small request on the connection, then the oversized one. */
async function oversizedRequest(how: Sending): Promise<{ response?: RawResponse; failure?: string; reset?: string; before?: number }> {
  const connection = await rawConnect(server.url, { writeAfterServerEnds: how.stubborn });
  let before: number | undefined;
  if (how.keepAlive) {
    await connection.write('GET /healthz HTTP/1.1\r\nHost: parley\r\n\r\n');
    before = (await connection.nextResponse()).status;
  }
  const framing = how.chunked ? 'Transfer-Encoding: chunked' : `Content-Length: ${how.bytes}`;
  await connection.write(`POST /v1/organisations HTTP/1.1\r\nHost: parley\r\nContent-Type: application/json\r\n${framing}\r\n\r\n`);
  let response: RawResponse | undefined;
  let failure: string | undefined;
  const answer = connection.nextResponse().then((r) => (response = r), (e: Error) => (failure = e.message));
  await sendBody(connection, how, () => response !== undefined);
  if (how.stubborn) connection.socket.end();
  await answer;
  const ending = await connection.ended;
  return { ...(response ? { response } : {}), ...(failure ? { failure } : {}), ...(ending.error ? { reset: ending.error } : {}), ...(before ? { before } : {}) };
}

/** Runs `count` jobs, `parallel` at a time. */
async function pool<T>(count: number, parallel: number, job: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array(count);
  let next = 0;
  await Promise.all(Array.from({ length: parallel }, async () => {
    while (next < count) {
      const i = next++;
      results[i] = await job(i);
    }
  }));
  return results;
}

describe('an oversized request body on real sockets', () => {
  it('answers every one of 500 concurrent oversized requests with a complete 413 problem document and Connection: close, never a reset', async () => {
    const results = await pool(500, 100, (i) => oversizedRequest(sendingOf(i)));
    const bad = results.map((r, i) => ({ i, how: sendingOf(i), ...r })).filter((r) => r.response?.status !== 413 || r.reset !== undefined || (r.before !== undefined && r.before !== 200));
    expect(bad.slice(0, 5), `${bad.length} of 500 requests did not get a whole 413`).toEqual([]);
    for (const { response } of results) {
      expect(response!.headers.connection).toBe('close');
      expect(response!.headers['content-type']).toBe('application/problem+json');
      const problem = JSON.parse(response!.body) as { code: string; status: number; detail: string };
      expect(problem).toMatchObject({ code: ErrorCode.PayloadTooLarge, status: 413 });
      expect(problem.detail).toMatch(/larger than 65536 bytes/);
    }
  });

  it('answers fetch clients uploading megabytes, whole or streamed, with the 413 problem document', async () => {
    const body = (i: number): NonNullable<RequestInit['body']> => {
      if (i % 2 === 0) return Buffer.alloc(3 * MiB, 0x61);
      let sent = 0;
      return new ReadableStream<Uint8Array>({
        async pull(controller) {
          if (sent >= 4 * MiB) return controller.close();
          await new Promise((resolve) => setTimeout(resolve, 5));
          controller.enqueue(new Uint8Array(CHUNK));
          sent += CHUNK.length;
        },
      });
    };
    const answers = await pool(100, 50, async (i) => {
      const res = await fetch(`${server.url}/v1/organisations`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: body(i), duplex: 'half' } as RequestInit);
      return { status: res.status, connection: res.headers.get('connection'), problem: (await res.json()) as { code: string } };
    });
    expect(answers.filter((a) => a.status !== 413 || a.problem.code !== ErrorCode.PayloadTooLarge || a.connection !== 'close')).toEqual([]);
  });
});
