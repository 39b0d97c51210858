/**
 * The site worker's API for one step, served on a Unix socket that is bind-mounted into the
 * container at /run/parley/node.sock. It only collects what the algorithm asks to send and what
 * it outputs; the worker seals those afterwards, so the container never holds or reaches a key.
 *
 *   POST /v1/messages {to, content}   a message for `to` (one of the step's allowed recipients)
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
import { chmod, lstat, mkdir, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { isOrgId, type OrgId } from '../../common/ids.ts';

export interface NodeSocketOptions {
  /** Where to listen on the host. Its directory is created 0700, or must already be private. */
  socketPath: string;
  /** The organisations this step may send to. */
  allowedRecipients: OrgId[];
  /** The largest request body accepted; larger ones get 413. */
  maxBodyBytes: number;
  /** How many messages one step may send (default 10,000), so a runaway loop cannot fill memory. */
  maxMessages?: number;
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

/** A running node socket and what it has collected so far. */
export interface NodeSocket {
  readonly socketPath: string;
  /** Accepted messages, in arrival order. */
  messages(): RequestedMessage[];
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

async function readBody(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > maxBytes) throw new Refusal(413, `Request body of ${declared} bytes exceeds the limit of ${maxBytes}.`);
  // Listeners rather than for-await: leaving a for-await early destroys the request, and with it
  // the connection the 413 answer has to go out on.
  const body = await new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size <= maxBytes) return void chunks.push(chunk);
      req.off('data', onData).pause();
      reject(new Refusal(413, `Request body exceeds the limit of ${maxBytes} bytes.`));
    };
    req.on('data', onData).once('error', reject).once('end', () => resolve(Buffer.concat(chunks)));
  });
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    throw new Refusal(400, 'Request body is not JSON.');
  }
}

async function prepareDirectory(socketPath: string): Promise<void> {
  if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH_BYTES) {
    throw new TypeError(`Socket path ${socketPath} is longer than the ${MAX_SOCKET_PATH_BYTES} bytes a Unix socket allows.`);
  }
  const dir = dirname(socketPath);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  // The socket itself is 0666 (the container's uid must connect), so the directory is what keeps
  // other local users from talking to it as if they were the algorithm.
  const info = await lstat(dir);
  if (!info.isDirectory() || (info.mode & 0o077) !== 0) {
    throw new TypeError(`Socket directory ${dir} must be a private directory (mode 0700); it is ${(info.mode & 0o777).toString(8)}.`);
  }
  try {
    if ((await lstat(socketPath)).isSocket()) await unlink(socketPath); // left over from a crashed worker
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
  const messages: RequestedMessage[] = [];
  const cohorts: CohortReport[] = [];
  const violations: string[] = [];
  let output: { content: unknown } | undefined;

  const routes: Record<string, (body: Record<string, unknown>) => void> = {
    '/v1/messages': ({ to, content }) => {
      if (typeof to !== 'string' || !allowed.has(to)) {
        throw new Refusal(400, `Recipient ${describeRecipient(to)} is not one this step may send to (allowed: ${[...allowed].join(', ') || 'none'}).`);
      }
      if (content === undefined) throw new Refusal(400, 'A message needs "content".');
      if (messages.length >= maxMessages) throw new Refusal(429, `A step may send at most ${maxMessages} messages.`);
      messages.push({ to, content });
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
  const bodyLimit = (path: string): number => (path === '/v1/cohort' ? maxCohortBytes : maxBodyBytes);

  const reply = (res: ServerResponse, status: number, body: object): void => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };

  const server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0] ?? '';
    const route = routes[path];
    void (async () => {
      if (!route) throw new Refusal(404, `No such endpoint: ${req.method} ${path}.`);
      if (req.method !== 'POST') {
        res.setHeader('allow', 'POST');
        throw new Refusal(405, `${path} accepts POST only.`);
      }
      const body = await readBody(req, bodyLimit(path));
      if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new Refusal(400, 'Request body must be a JSON object.');
      route(body as Record<string, unknown>);
      reply(res, 200, { ok: true });
    })().catch((err: unknown) => {
      const refusal = err instanceof Refusal ? err : new Refusal(400, 'Request could not be read.');
      violations.push(`${req.method} ${path}: ${refusal.message}`);
      // After a refused body the rest of it is not worth reading: answer and drop the connection.
      res.setHeader('connection', 'close');
      reply(res, refusal.status, { error: refusal.message });
      res.once('finish', () => req.socket.destroy());
    });
  });

  await prepareDirectory(socketPath);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => {
      server.off('error', reject);
      resolve();
    });
  });
  await chmod(socketPath, 0o666);

  let closed: Promise<void> | undefined;
  return {
    socketPath,
    messages: () => messages.map((m) => ({ ...m })),
    output: () => output?.content,
    cohorts: () => cohorts.map((c) => ({ dataset: c.dataset, rows: [...c.rows] })),
    violations: () => [...violations],
    close: () =>
      (closed ??= (async () => {
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
        await stopped;
        await unlink(socketPath).catch(() => undefined);
      })()),
  };
}
