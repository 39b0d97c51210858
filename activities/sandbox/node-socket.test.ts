import { request } from 'node:http';
import { connect } from 'node:net';
import { chmod, mkdir, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { scratchDir } from '../../test/support/docker-sandbox.ts';
import { startNodeSocket, type NodeSocket } from './node-socket.ts';

let scratch: Awaited<ReturnType<typeof scratchDir>>;
let socket: NodeSocket | undefined;

beforeAll(async () => {
  scratch = await scratchDir();
});
afterEach(async () => {
  await socket?.close();
  socket = undefined;
});
afterAll(async () => {
  await scratch?.dispose();
});

async function start(name: string): Promise<NodeSocket> {
  socket = await startNodeSocket({ socketPath: join(scratch.dir, name, 'node.sock'), allowedRecipients: ['east', 'researcher'], maxBodyBytes: 1024, datasets: ['patients'], maxCohortBytes: 4096 });
  return socket;
}

/** What the container library does: one request over the Unix socket. */
function call(s: NodeSocket, method: string, path: string, body?: string): Promise<{ status: number; json: { ok?: boolean; error?: string } }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: s.socketPath, method, path, agent: false, headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString('utf8')));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text || '{}') as { ok?: boolean; error?: string } }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('node socket', () => {
  it('answers a refused message whose body is still coming, rather than dropping the connection on it', async () => {
    const spillDir = join(scratch.dir, 'refused-spill');
    socket = await startNodeSocket({ socketPath: join(scratch.dir, 'refused', 'node.sock'), allowedRecipients: ['east'], maxBodyBytes: 1024, maxMessageBytes: 64 * 1024 * 1024, spillDir });
    // As parley.py sends: the headers, then the whole body, and only then reads the answer. The
    // worker refuses the recipient at once; were it to close as soon as it answered, the body
    // still arriving would reset the connection and the answer with it.
    const body = Buffer.alloc(4 * 1024 * 1024, 0x31);
    const sendWhole = (): Promise<string> =>
      new Promise((resolve) => {
        const connection = connect(socket!.socketPath);
        let answer = '';
        connection.on('data', (b: Buffer) => (answer += b.toString('latin1')));
        connection.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
        connection.on('end', () => resolve(answer.split('\r\n')[0]!));
        connection.pause(); // nothing read until the body is all written
        connection.write(`POST /v1/messages/west HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n`);
        connection.end(body, () => connection.resume());
      });
    const answers = [];
    for (let i = 0; i < 10; i++) answers.push(await sendWhole());
    expect(answers).toEqual(Array(10).fill('HTTP/1.1 400 Bad Request'));
    expect(await readdir(spillDir)).toEqual([]);
  });

  it('spills each message to its spill directory and hands them back one at a time, in order, as JSON', async () => {
    const spillDir = join(scratch.dir, 'spill-out');
    socket = await startNodeSocket({ socketPath: join(scratch.dir, 'spill', 'node.sock'), allowedRecipients: ['east'], maxBodyBytes: 64, maxMessageBytes: 4096, spillDir });
    const big = 'y'.repeat(3000);
    expect((await call(socket, 'POST', '/v1/messages', JSON.stringify({ to: 'east', content: { big } }))).status).toBe(200);
    expect((await call(socket, 'POST', '/v1/messages', JSON.stringify({ to: 'east', content: [1] }))).status).toBe(200);
    expect((await readdir(spillDir)).sort()).toEqual(['0.json', '1.json']);
    const read = [];
    for await (const m of socket.messagesAsJson()) read.push({ to: m.to, content: JSON.parse(Buffer.from(await m.bytes()).toString('utf8')) as unknown });
    expect(read).toEqual([{ to: 'east', content: { big } }, { to: 'east', content: [1] }]);
    // An output is held to its own, smaller limit: it stays inline in the history.
    expect((await call(socket, 'POST', '/v1/output', JSON.stringify({ content: big }))).status).toBe(413);
  });

  it('streams a message posted as its own JSON to /v1/messages/{to} into the spill file, checked as JSON on its way', async () => {
    const spillDir = join(scratch.dir, 'streamed-out');
    socket = await startNodeSocket({ socketPath: join(scratch.dir, 'streamed', 'node.sock'), allowedRecipients: ['east'], maxBodyBytes: 64, maxMessageBytes: 1 << 20, maxTotalBytes: 1 << 20, spillDir });
    const content = { i: 0, text: 'z'.repeat(200_000) };
    expect(await call(socket, 'POST', '/v1/messages/east', JSON.stringify(content))).toEqual({ status: 200, json: { ok: true } });
    // Not JSON, cut short, or two values: refused, recorded, and nothing of it kept.
    for (const body of ['{"i":1,"text":"unterminated', 'not json', '{} {}']) {
      expect((await call(socket, 'POST', '/v1/messages/east', body)).json.error).toBe('Request body is not JSON.');
    }
    expect((await call(socket, 'POST', '/v1/messages/west', '1')).status).toBe(400);
    expect(await readdir(spillDir)).toEqual(['0.json']);
    const read = [];
    for await (const m of socket.messagesAsJson()) read.push({ to: m.to, size: m.size, content: JSON.parse(Buffer.from(await m.bytes()).toString('utf8')) as unknown });
    expect(read).toEqual([{ to: 'east', size: JSON.stringify(content).length, content }]);
    expect(socket.violations()).toHaveLength(4);
  });

  it('holds a streamed message to the step\'s byte limit, answering 413 rather than dropping the connection', async () => {
    const spillDir = join(scratch.dir, 'streamed-limit-out');
    socket = await startNodeSocket({ socketPath: join(scratch.dir, 'streamed-limit', 'node.sock'), allowedRecipients: ['east'], maxBodyBytes: 64, maxMessageBytes: 1 << 20, maxTotalBytes: 100_000, spillDir });
    expect((await call(socket, 'POST', '/v1/messages/east', JSON.stringify('a'.repeat(60_000)))).status).toBe(200);
    const second = await call(socket, 'POST', '/v1/messages/east', JSON.stringify('b'.repeat(60_000)));
    expect(second).toEqual({ status: 413, json: { error: 'A step may send at most 100000 bytes of messages in all.' } });
    expect(socket.limitExceeded()).toEqual({ limit: 'bytes', max: 100_000 });
    expect(await readdir(spillDir)).toEqual(['0.json']);
  });

  it('names the message limit a step went past, and keeps nothing after it', async () => {
    socket = await startNodeSocket({ socketPath: join(scratch.dir, 'count', 'node.sock'), allowedRecipients: ['east'], maxBodyBytes: 1024, maxMessages: 2 });
    for (const i of [1, 2]) expect((await call(socket, 'POST', '/v1/messages', JSON.stringify({ to: 'east', content: i }))).status).toBe(200);
    expect((await call(socket, 'POST', '/v1/messages', JSON.stringify({ to: 'east', content: 3 }))).status).toBe(429);
    expect(socket.limitExceeded()).toEqual({ limit: 'messages', max: 2 });
    expect(socket.messages()).toHaveLength(2);
  });

  it('names the byte limit when the step\'s messages add up past it, or one message alone is larger', async () => {
    socket = await startNodeSocket({ socketPath: join(scratch.dir, 'bytes', 'node.sock'), allowedRecipients: ['east'], maxBodyBytes: 1024, maxMessageBytes: 100, maxTotalBytes: 100 });
    expect((await call(socket, 'POST', '/v1/messages', JSON.stringify({ to: 'east', content: 'a'.repeat(60) }))).status).toBe(200);
    expect((await call(socket, 'POST', '/v1/messages', JSON.stringify({ to: 'east', content: 'b'.repeat(60) }))).status).toBe(413);
    expect(socket.limitExceeded()).toEqual({ limit: 'bytes', max: 100 });
    await socket.close();
    socket = await startNodeSocket({ socketPath: join(scratch.dir, 'bytes-one', 'node.sock'), allowedRecipients: ['east'], maxBodyBytes: 1024, maxMessageBytes: 100, maxTotalBytes: 100 });
    expect((await call(socket, 'POST', '/v1/messages', JSON.stringify({ to: 'east', content: 'c'.repeat(200) }))).status).toBe(413);
    expect(socket.limitExceeded()).toEqual({ limit: 'bytes', max: 100 });
  });

  it('collects messages in arrival order and the one output, and nothing more', async () => {
    const s = await start('collects');
    expect((await call(s, 'POST', '/v1/messages', JSON.stringify({ to: 'east', content: { partial: '1' } }))).status).toBe(200);
    expect((await call(s, 'POST', '/v1/messages', JSON.stringify({ to: 'researcher', content: [2] }))).status).toBe(200);
    expect((await call(s, 'POST', '/v1/output', JSON.stringify({ content: { total: '3' } }))).status).toBe(200);
    expect(s.messages()).toEqual([
      { to: 'east', content: { partial: '1' } },
      { to: 'researcher', content: [2] },
    ]);
    expect(s.output()).toEqual({ total: '3' });
    expect(s.violations()).toEqual([]);
  });

  it('refuses a recipient the step may not address, with a clear error, and records the violation', async () => {
    const s = await start('recipient');
    const answer = await call(s, 'POST', '/v1/messages', JSON.stringify({ to: 'mallory', content: 'secret' }));
    expect(answer.status).toBe(400);
    expect(answer.json.error).toBe('Recipient "mallory" is not one this step may send to (allowed: east, researcher).');
    expect(s.messages()).toEqual([]);
    expect(s.violations()).toEqual(['POST /v1/messages: Recipient "mallory" is not one this step may send to (allowed: east, researcher).']);
    expect(s.violations().join()).not.toContain('secret');
  });

  it('answers 413 to a body over the limit, 404 to unknown paths, 405 to other methods, 409 to a second output', async () => {
    const s = await start('limits');
    expect((await call(s, 'POST', '/v1/output', JSON.stringify({ content: 'x'.repeat(2000) }))).status).toBe(413);
    expect((await call(s, 'POST', '/v1/keys', '{}')).status).toBe(404);
    expect((await call(s, 'GET', '/v1/messages')).status).toBe(405);
    expect((await call(s, 'POST', '/v1/output', 'not json')).status).toBe(400);
    expect((await call(s, 'POST', '/v1/output', JSON.stringify({ content: 1 }))).status).toBe(200);
    expect((await call(s, 'POST', '/v1/output', JSON.stringify({ content: 2 }))).status).toBe(409);
    expect(s.output()).toBe(1);
    expect(s.violations()).toHaveLength(5);
  });

  it('collects one cohort per mounted dataset for the release ledger, above the message size limit but within its own', async () => {
    const s = await start('cohort');
    const rows = Array.from({ length: 150 }, (_, i) => `A${100000 + i}`);
    expect((await call(s, 'POST', '/v1/cohort', JSON.stringify({ dataset: 'patients', rows }))).status).toBe(200);
    expect(s.cohorts()).toEqual([{ dataset: 'patients', rows }]);
    expect((await call(s, 'POST', '/v1/cohort', JSON.stringify({ dataset: 'patients', rows }))).status).toBe(409);
    expect((await call(s, 'POST', '/v1/cohort', JSON.stringify({ dataset: 'other', rows }))).status).toBe(400);
    expect((await call(s, 'POST', '/v1/cohort', JSON.stringify({ dataset: 'patients', rows: [1, 2] }))).status).toBe(400);
    expect((await call(s, 'POST', '/v1/cohort', JSON.stringify({ dataset: 'patients', rows: rows.concat(rows, rows, rows) }))).status).toBe(413);
    expect(s.cohorts()).toHaveLength(1);
    expect(s.violations()).toHaveLength(4);
    // A refusal never quotes the dataset the container named.
    expect(s.violations().join()).not.toContain('other');
  });

  it('records the path a container asked for in the violation, which the worker keeps off a failure\'s readable line', async () => {
    const s = await start('path');
    expect((await call(s, 'GET', '/x/A100030')).status).toBe(404);
    expect(s.violations()).toEqual(['GET /x/A100030: No such endpoint: GET /x/A100030.']);
  });

  it('is reachable by the sandbox user (0666) inside a private directory, and gone after close', async () => {
    const s = await start('modes');
    expect((await stat(s.socketPath)).mode & 0o777).toBe(0o666);
    expect((await stat(join(scratch.dir, 'modes'))).mode & 0o777).toBe(0o700);
    await s.close();
    await expect(stat(s.socketPath)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('refuses to listen in a directory other users can enter', async () => {
    const shared = join(scratch.dir, 'shared');
    await mkdir(shared);
    await chmod(shared, 0o755);
    await expect(startNodeSocket({ socketPath: join(shared, 'node.sock'), allowedRecipients: [], maxBodyBytes: 1024 })).rejects.toThrow(/must be a private directory/);
  });
});
