/**
 * The site worker's API for one step, served on a Unix socket that is bind-mounted into the
 * container at /run/parley/node.sock. It only collects what the algorithm asks to send and what
 * it outputs; the worker seals those afterwards, so the container never holds or reaches a key.
 *
 *   POST /v1/messages {to, content}   a message for `to` (one of the step's allowed recipients)
 *   POST /v1/messages/{to}  content   the same, the body being the content's JSON itself: streamed
 *                                       to the spill file and checked as JSON on its way, so the
 *                                       worker never holds a large message whole
 *   POST /v1/output   {content}       the step's result for the run's requester (at most one)
 *   POST /v1/cohort   {dataset, rows}   the row ids of the cohort the step formed from one of its
 *                                       datasets (at most one per dataset), for the site's release
 *                                       ledger (activities/release-ledger.ts); never sent anywhere
 *
 * Every refused request is also recorded as a violation: an algorithm that breaks the contract
 * fails its step (StepProtocol) even if it ignores the error it was given. A violation quotes
 * what the container asked for (method, path, recipient), which the container controls: the
 * worker puts violations only on the sealed lines of a failure, never on its readable first line.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { chmodSync, createReadStream, createWriteStream, lstatSync, mkdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { isOrgId, type OrgId } from '../../common/ids.ts';
import { closeConnectionsGently } from '../../common/lingering-close.ts';
import { jsonSyntaxCheck } from './json-syntax.ts';

export interface NodeSocketOptions {
  /** Where to listen on the host. Its directory is created 0700, or must already be private. */
  socketPath: string;
  /** The organisations this step may send to. */
  allowedRecipients: OrgId[];
  /** The largest request body accepted; larger ones get 413. */
  maxBodyBytes: number;
  /** The largest message body accepted (default maxBodyBytes): messages may be far larger than an output. */
  maxMessageBytes?: number;
  /** How many messages one step may send (default 10,000), so a runaway loop cannot fill memory. */
  maxMessages?: number;
  /** The most bytes of message content one step may send in all (default: no limit but maxMessages × maxMessageBytes). */
  maxTotalBytes?: number;
  /**
   * A private directory to write each accepted message's content to, so the worker holds one
   * message at a time rather than all of a step's (default: kept in memory).
   */
  spillDir?: string;
  /** The datasets the step mounted: the only ones it may report a cohort of (default none). */
  datasets?: string[];
  /** The largest cohort report accepted (default 64 MiB: a million ids of 60 characters). */
  maxCohortBytes?: number;
}

/** The row ids of a cohort a step formed from one of its datasets, as it reported them. */
export interface CohortReport {
  dataset: string;
  rows: string[];
}

/** A message the algorithm asked to send, as it asked (not yet sealed). */
export interface RequestedMessage {
  to: OrgId;
  content: unknown;
}

/**
 * A message the algorithm asked to send, with its content as JSON text (UTF-8): its length, and
 * the text whole or as a stream (read from the spill file, never whole in memory).
 */
export interface RequestedMessageJson {
  to: OrgId;
  size: number;
  bytes(): Promise<Uint8Array>;
  stream(): AsyncIterable<Uint8Array>;
}

/** Which of a step's sending limits a refused message went past. */
export type SendLimit = { limit: 'messages'; max: number } | { limit: 'bytes'; max: number };

/** A running node socket and what it has collected so far. */
export interface NodeSocket {
  readonly socketPath: string;
  /** Accepted messages, in arrival order (read back from spillDir when spilled). */
  messages(): RequestedMessage[];
  /** Accepted messages one at a time, in arrival order, as JSON text: when spilled, none in memory until read. */
  messagesAsJson(): AsyncIterable<RequestedMessageJson>;
  /** The first sending limit a message went past, if any (that message and all after it were refused). */
  limitExceeded(): SendLimit | undefined;
  /** The step's output, or undefined when it wrote none. */
  output(): unknown;
  /** The cohorts the step reported, in arrival order (one per dataset at most). */
  cohorts(): CohortReport[];
  /** Why each refused request was refused, in arrival order; never includes content. */
  violations(): string[];
  /** Stops listening, drops open connections and removes the socket file. Idempotent. */
  close(): Promise<void>;
}

// sun_path is 108 bytes on Linux, including the terminating NUL.
const MAX_SOCKET_PATH_BYTES = 107;

/** A row id as a cohort report carries it: a non-empty string of bounded length. */
const MAX_ROW_ID_CHARS = 256;
const DEFAULT_MAX_COHORT_BYTES = 64 * 1024 * 1024;

class Refusal extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** A recipient as it may appear in a log: an org id, or a placeholder for anything else. */
function describeRecipient(to: unknown): string {
  return isOrgId(to) ? `"${to}"` : 'a value that is not an organisation id';
}

/** Where a message's content is posted as JSON of its own: `/v1/messages/{to}`. */
const STREAMED_MESSAGES = '/v1/messages/';

async function readJson(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > maxBytes) throw new Refusal(413, `Request body of ${declared} bytes exceeds the limit of ${maxBytes}.`);
  // Listeners rather than for-await: leaving a for-await early destroys the request, and with it
  // the connection the 413 answer has to go out on. With a declared length the body is read into
  // one buffer of that size: a large message is not held twice (its pieces, then their concatenation).
  const body = await new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    const whole = declared > 0 ? Buffer.allocUnsafe(declared) : undefined;
    let size = 0;
    const onData = (chunk: Buffer): void => {
      if (size + chunk.length <= maxBytes && (whole === undefined || size + chunk.length <= whole.length)) {
        if (whole) chunk.copy(whole, size);
        else chunks.push(chunk);
        size += chunk.length;
        return;
      }
      req.off('data', onData).pause();
      reject(new Refusal(413, `Request body exceeds the limit of ${maxBytes} bytes.`));
    };
    req.on('data', onData).once('error', reject).once('end', () => resolve(whole ? whole.subarray(0, size) : Buffer.concat(chunks)));
  });
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    throw new Refusal(400, 'Request body is not JSON.');
  }
}

// Synchronous file calls for the socket's directory and the small spilled messages (issue 17):
// microseconds each in the page cache, where asynchronous ones wait in libuv's thread pool behind
// the process's fsyncs. Streams (a message's body, large payloads) stay asynchronous.
function prepareDirectory(socketPath: string): void {
  if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH_BYTES) {
    throw new TypeError(`Socket path ${socketPath} is longer than the ${MAX_SOCKET_PATH_BYTES} bytes a Unix socket allows.`);
  }
  const dir = dirname(socketPath);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // The socket itself is 0666 (the container's uid must connect), so the directory is what keeps
  // other local users from talking to it as if they were the algorithm.
  const info = lstatSync(dir);
  if (!info.isDirectory() || (info.mode & 0o077) !== 0) {
    throw new TypeError(`Socket directory ${dir} must be a private directory (mode 0700); it is ${(info.mode & 0o777).toString(8)}.`);
  }
  try {
    if (lstatSync(socketPath).isSocket()) unlinkSync(socketPath); // left over from a crashed worker
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/**
 * Starts the node socket for one step. Throws TypeError when the path is too long for a Unix
 * socket or its directory is not private, and the listen error when the path is taken.
 */
export async function startNodeSocket(options: NodeSocketOptions): Promise<NodeSocket> {
  const { socketPath, maxBodyBytes } = options;
  const allowed = new Set(options.allowedRecipients);
  const maxMessages = options.maxMessages ?? 10_000;
  const datasets = new Set(options.datasets ?? []);
  const maxCohortBytes = options.maxCohortBytes ?? DEFAULT_MAX_COHORT_BYTES;
  const maxMessageBytes = options.maxMessageBytes ?? maxBodyBytes;
  const maxTotalBytes = options.maxTotalBytes ?? Number.POSITIVE_INFINITY;
  const { spillDir } = options;
  /** Each message's content: in memory, or the file it was spilled to. */
  const messages: Array<{ to: OrgId; content: unknown } | { to: OrgId; file: string }> = [];
  let sentBytes = 0;
  let exceeded: SendLimit | undefined;
  const cohorts: CohortReport[] = [];
  const violations: string[] = [];
  let output: { content: unknown } | undefined;

  const routes: Record<string, (body: Record<string, unknown>) => void> = {
    '/v1/messages': ({ to, content }) => {
      if (typeof to !== 'string' || !allowed.has(to)) {
        throw new Refusal(400, `Recipient ${describeRecipient(to)} is not one this step may send to (allowed: ${[...allowed].join(', ') || 'none'}).`);
      }
      if (content === undefined) throw new Refusal(400, 'A message needs "content".');
      const json = Buffer.from(JSON.stringify(content), 'utf8');
      // Once past a limit the step has failed: nothing more of it is kept.
      admit(json.length);
      sentBytes += json.length;
      if (spillDir === undefined) return void messages.push({ to, content });
      const file = join(spillDir, `${messages.length}.json`);
      writeFileSync(file, json, { mode: 0o600 });
      messages.push({ to, file });
    },
    '/v1/output': ({ content }) => {
      if (content === undefined) throw new Refusal(400, 'An output needs "content".');
      if (output !== undefined) throw new Refusal(409, 'This step already wrote its output; a step has one.');
      output = { content };
    },
    '/v1/cohort': ({ dataset, rows }) => {
      if (typeof dataset !== 'string' || !datasets.has(dataset)) throw new Refusal(400, 'A cohort must name one of the datasets this step mounted.');
      if (!Array.isArray(rows) || !rows.every((r) => typeof r === 'string' && r.length > 0 && r.length <= MAX_ROW_ID_CHARS)) {
        throw new Refusal(400, `A cohort's rows must be a list of row ids (strings of 1 to ${MAX_ROW_ID_CHARS} characters).`);
      }
      if (cohorts.some((c) => c.dataset === dataset)) throw new Refusal(409, 'This step already reported its cohort of that dataset; a step reports one per dataset.');
      cohorts.push({ dataset, rows: rows as string[] });
    },
  };
  /** Admits one more message of `size` bytes (more may follow when unknown), or says which limit it passes. */
  const admit = (size: number): void => {
    if (exceeded === undefined && messages.length >= maxMessages) exceeded = { limit: 'messages', max: maxMessages };
    if (exceeded === undefined && sentBytes + size > maxTotalBytes) exceeded = { limit: 'bytes', max: maxTotalBytes };
    if (exceeded?.limit === 'messages') throw new Refusal(429, `A step may send at most ${maxMessages} messages.`);
    if (exceeded?.limit === 'bytes') throw new Refusal(413, `A step may send at most ${maxTotalBytes} bytes of messages in all.`);
  };

  /** POST /v1/messages/{to}: the content's JSON streamed into the spill file, checked as it comes. */
  const streamMessage = async (req: IncomingMessage, to: string): Promise<void> => {
    if (!allowed.has(to)) throw new Refusal(400, `Recipient ${describeRecipient(to)} is not one this step may send to (allowed: ${[...allowed].join(', ') || 'none'}).`);
    const declared = Number(req.headers['content-length'] ?? NaN);
    if (declared > maxMessageBytes) throw new Refusal(413, `Request body of ${declared} bytes exceeds the limit of ${maxMessageBytes}.`);
    admit(Number.isSafeInteger(declared) ? declared : 0);
    if (spillDir === undefined) {
      // Without a spill directory messages are kept in memory anyway: parsed as the JSON route does.
      const content = await readJson(req, maxMessageBytes);
      sentBytes += Buffer.byteLength(JSON.stringify(content));
      return void messages.push({ to, content });
    }
    const file = join(spillDir, `${messages.length}.json`);
    const check = jsonSyntaxCheck();
    let size = 0;
    const out = createWriteStream(file, { mode: 0o600 });
    try {
      // Listeners, as readJson: a refusal pauses the request rather than destroying it, so the
      // answer still goes out on its connection.
      await new Promise<void>((resolve, reject) => {
        const refuse = (refusal: Refusal): void => {
          req.off('data', onData).pause();
          reject(refusal);
        };
        const onData = (chunk: Buffer): void => {
          size += chunk.length;
          if (size > maxMessageBytes) return refuse(new Refusal(413, `Request body exceeds the limit of ${maxMessageBytes} bytes.`));
          if (sentBytes + size > maxTotalBytes) {
            exceeded ??= { limit: 'bytes', max: maxTotalBytes };
            return refuse(new Refusal(413, `A step may send at most ${maxTotalBytes} bytes of messages in all.`));
          }
          if (!check.write(chunk)) return refuse(new Refusal(400, 'Request body is not JSON.'));
          // Back-pressure: the container waits while the disk catches up.
          if (!out.write(chunk)) {
            req.pause();
            out.once('drain', () => req.resume());
          }
        };
        out.once('error', reject);
        req.on('data', onData).once('error', reject).once('end', () => out.end(() => resolve()));
      });
      if (!check.end()) throw new Refusal(400, 'Request body is not JSON.');
    } catch (err) {
      out.destroy();
      await unlink(file).catch(() => undefined);
      throw err;
    }
    sentBytes += size;
    messages.push({ to, file });
  };

  const bodyLimit = (path: string): number => (path === '/v1/cohort' ? maxCohortBytes : path === '/v1/messages' ? maxMessageBytes : maxBodyBytes);

  const reply = (res: ServerResponse, status: number, body: object): void => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };

  const server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0] ?? '';
    const route = routes[path];
    const streamedTo = path.startsWith(STREAMED_MESSAGES) ? path.slice(STREAMED_MESSAGES.length) : undefined;
    void (async () => {
      if (!route && streamedTo === undefined) throw new Refusal(404, `No such endpoint: ${req.method} ${path}.`);
      if (req.method !== 'POST') {
        res.setHeader('allow', 'POST');
        throw new Refusal(405, `${path} accepts POST only.`);
      }
      if (streamedTo !== undefined) {
        await streamMessage(req, decodeURIComponent(streamedTo));
        return reply(res, 200, { ok: true });
      }
      if (!route) throw new Refusal(404, `No such endpoint: ${req.method} ${path}.`);
      const body = await readJson(req, bodyLimit(path));
      if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new Refusal(400, 'Request body must be a JSON object.');
      route(body as Record<string, unknown>);
      reply(res, 200, { ok: true });
    })().catch((err: unknown) => {
      const refusal = err instanceof Refusal ? err : new Refusal(400, 'Request could not be read.');
      // One message larger than the step may send in all is past the step's byte limit too.
      if ((path === '/v1/messages' || streamedTo !== undefined) && refusal.status === 413 && maxMessageBytes >= maxTotalBytes) exceeded ??= { limit: 'bytes', max: maxTotalBytes };
      violations.push(`${req.method} ${path}: ${refusal.message}`);
      // After a refused body the rest of it is not worth keeping: answer with Connection: close,
      // and the lingering close below reads and drops what the algorithm is still sending, so
      // that the answer reaches it instead of a broken pipe (RFC 9112 §9.6).
      res.setHeader('connection', 'close');
      reply(res, refusal.status, { error: refusal.message });
    });
  });
  closeConnectionsGently(server);

  prepareDirectory(socketPath);
  if (spillDir !== undefined) mkdirSync(spillDir, { recursive: true, mode: 0o700 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => {
      server.off('error', reject);
      resolve();
    });
  });
  chmodSync(socketPath, 0o666);

  let closed: Promise<void> | undefined;
  return {
    socketPath,
    messages: () => messages.map((m) => ('file' in m ? { to: m.to, content: JSON.parse(readFileSync(m.file, 'utf8')) as unknown } : { ...m })),
    async *messagesAsJson() {
      for (const m of messages) {
        if ('file' in m) {
          const { file } = m;
          yield { to: m.to, size: statSync(file).size, bytes: async () => readFileSync(file), stream: () => createReadStream(file) };
        } else {
          const json = Buffer.from(JSON.stringify(m.content), 'utf8');
          yield { to: m.to, size: json.length, bytes: async () => json, stream: async function* () { yield json; } };
        }
      }
    },
    limitExceeded: () => exceeded,
    output: () => output?.content,
    cohorts: () => cohorts.map((c) => ({ dataset: c.dataset, rows: [...c.rows] })),
    violations: () => [...violations],
    close: () =>
      (closed ??= (async () => {
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
        await stopped;
        try {
          unlinkSync(socketPath);
        } catch {
          // already gone
        }
      })()),
  };
}
