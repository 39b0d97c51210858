/**
 * The few S3 operations the API's blob store needs (PUT, GET, HEAD, DELETE, ListObjectsV2, and
 * bucket create/delete for tests), signed with SigV4 (./sigv4.ts) and sent with node:http(s).
 *
 * Why not the AWS SDK: it would bring dozens of packages for six requests, and its uploads either
 * buffer a body or sign it chunk by chunk. Here every PUT signs the payload's own SHA-256, which
 * the caller knows before the first byte (a blob is named by it): a store that checks signed
 * payloads (AWS S3, SeaweedFS) then refuses bytes that do not hash to it, and the body still
 * streams with its known Content-Length, never held whole. Why node:http rather than fetch: a
 * streamed body needs an exact Content-Length (S3 answers 411 to chunked transfer encoding), and
 * node:http sends the headers as given, checks the body against that length, and lets a failed
 * upload be cut off at once.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Readable } from 'node:stream';
import { S3Failure, S3StoreError, failureOf, type S3Where } from './s3-error.ts';
import { EMPTY_SHA256, amzDate, canonicalQuery, encodePath, signRequest } from './sigv4.ts';

/** Where the store is and who the API is to it. The secret is kept in a closure, never logged. */
export interface S3ClientConfig {
  /** e.g. `https://s3.eu-central-1.amazonaws.com` or `http://127.0.0.1:8333`. */
  endpoint: string;
  bucket: string;
  /** Default `us-east-1`. */
  region?: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** `path` (`endpoint/bucket/key`, the default; every S3-compatible store) or `virtual` (`bucket.host/key`). */
  addressing?: 'path' | 'virtual';
  /** No byte for this long fails the request. Default 60 s. */
  idleTimeoutMs?: number;
  /** The signing clock. Default: the system clock. */
  now?: () => Date;
}

/** One page of a listing. */
export interface S3ListPage {
  keys: string[];
  /** With a delimiter: the common prefixes (the "directories") under the prefix. */
  prefixes: string[];
}

export interface S3Client {
  readonly where: S3Where;
  /** The object's size and metadata (lower-case names without `x-amz-meta-`), or undefined when absent. */
  head(key: string): Promise<{ size: number; metadata: Record<string, string> } | undefined>;
  /** The object's bytes as they arrive, or undefined when absent. */
  get(key: string): Promise<IncomingMessage | undefined>;
  /**
   * Streams `size` bytes of `body` into `key`, signed with their hex SHA-256 `sha256`. An error
   * of `body` is the call's error, and the object is then not written.
   */
  put(key: string, body: Readable | Buffer, size: number, sha256: string, metadata?: Record<string, string>): Promise<void>;
  /** Removes the object; no error when it is absent. */
  delete(key: string): Promise<void>;
  /** The keys (and, with a delimiter, common prefixes) under `prefix`, page by page (of at most `maxKeys`). */
  list(prefix: string, options?: { delimiter?: string; maxKeys?: number }): AsyncGenerator<S3ListPage>;
  createBucket(): Promise<void>;
  deleteBucket(): Promise<void>;
}

interface Call {
  operation: string;
  method: string;
  key?: string;
  query?: Array<[string, string]>;
  headers?: Record<string, string>;
  body?: Readable | Buffer;
  payloadHash?: string;
}

/** A client for one bucket. @throws TypeError for an endpoint that is not an http(s) URL. */
export function createS3Client(config: S3ClientConfig): S3Client {
  const endpoint = new URL(config.endpoint);
  if (endpoint.protocol !== 'http:' && endpoint.protocol !== 'https:') throw new TypeError(`the S3 endpoint must be an http(s) URL, not ${endpoint.protocol}`);
  const virtual = config.addressing === 'virtual';
  const host = virtual ? `${config.bucket}.${endpoint.host}` : endpoint.host;
  const basePath = endpoint.pathname.replace(/\/+$/, '');
  const where: S3Where = { endpoint: endpoint.origin + basePath, bucket: config.bucket };
  const scope = { accessKeyId: config.accessKeyId, secretAccessKey: config.secretAccessKey, region: config.region ?? 'us-east-1' };
  const send = endpoint.protocol === 'https:' ? httpsRequest : httpRequest;
  const now = config.now ?? (() => new Date());
  /** A request's body's own error, told apart from the connection's. */
  const bodyErrors = new WeakMap<object, Error>();

  /** Sends one signed request; resolves with the response whatever its status. */
  function call(c: Call): Promise<IncomingMessage> {
    const path = encodePath(`${basePath}${virtual ? '' : `/${config.bucket}`}${c.key === undefined ? (virtual ? '/' : '') : `/${c.key}`}`);
    const at = now();
    const payloadHash = c.payloadHash ?? EMPTY_SHA256;
    const headers: Record<string, string> = { host, 'x-amz-date': amzDate(at), 'x-amz-content-sha256': payloadHash, ...c.headers };
    const { authorization } = signRequest({ method: c.method, path, query: c.query ?? [], headers, payloadHash }, scope, at);
    const query = canonicalQuery(c.query);
    const length = c.body === undefined ? 0 : Buffer.isBuffer(c.body) ? c.body.length : undefined;
    return new Promise((resolve, reject) => {
      const req = send({
        protocol: endpoint.protocol, hostname: endpoint.hostname, port: endpoint.port || undefined,
        method: c.method, path: query ? `${path}?${query}` : path,
        headers: { ...headers, authorization, ...(length !== undefined && c.method !== 'GET' && c.method !== 'HEAD' ? { 'content-length': String(length) } : {}) },
        timeout: config.idleTimeoutMs ?? 60_000,
      }, resolve);
      // A body shorter or longer than its Content-Length fails here rather than hanging the store.
      (req as typeof req & { strictContentLength: boolean }).strictContentLength = true;
      req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
      req.on('error', (err: Error) => reject(bodyErrors.get(req) ?? unreachable(err, c.operation)));
      if (c.body === undefined || Buffer.isBuffer(c.body)) {
        req.end(c.body);
        return;
      }
      const body = c.body;
      // The body's own error (too large, wrong length) is the caller's to see, not "unreachable".
      body.once('error', (err) => {
        bodyErrors.set(req, err);
        req.destroy(err);
      });
      body.pipe(req);
    });
  }

  const unreachable = (cause: Error, operation: string) => new S3StoreError(S3Failure.Unreachable, where, operation, { cause });

  /** The response's error, its S3 code read from the XML body (at most 16 KiB of it). */
  async function failed(res: IncomingMessage, operation: string): Promise<S3StoreError> {
    let text = '';
    for await (const chunk of res) {
      if (text.length < 16_384) text += String(chunk);
    }
    // Only a bare identifier is kept: never the body, which may echo the request's canonical form.
    const s3Code = /<Code>([A-Za-z0-9.]{1,64})<\/Code>/.exec(text)?.[1] ?? headerCode(res);
    const status = res.statusCode ?? 0;
    return new S3StoreError(failureOf(status, s3Code), where, operation, { status, ...(s3Code ? { s3Code } : {}) });
  }

  const ok = (res: IncomingMessage) => (res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300;
  const discard = (res: IncomingMessage) => res.resume();

  return {
    where,
    async head(key) {
      const res = await call({ operation: `read the object ${key}`, method: 'HEAD', key });
      discard(res);
      if (res.statusCode === 404 && headerCode(res) !== 'NoSuchBucket') return undefined;
      if (!ok(res)) throw await failed(res, `read the object ${key}`);
      const metadata: Record<string, string> = {};
      for (const [name, value] of Object.entries(res.headers)) {
        if (name.startsWith('x-amz-meta-') && typeof value === 'string') metadata[name.slice('x-amz-meta-'.length)] = decodeURIComponent(value);
      }
      return { size: Number(res.headers['content-length']), metadata };
    },
    async get(key) {
      const res = await call({ operation: `read the object ${key}`, method: 'GET', key });
      if (ok(res)) return res;
      const error = await failed(res, `read the object ${key}`);
      if (res.statusCode === 404 && error.s3Code !== 'NoSuchBucket') return undefined;
      throw error;
    },
    async put(key, body, size, sha256, metadata = {}) {
      const headers: Record<string, string> = { 'content-length': String(size), 'content-type': 'application/octet-stream' };
      for (const [name, value] of Object.entries(metadata)) headers[`x-amz-meta-${name}`] = encodeURIComponent(value);
      const res = await call({ operation: `write the object ${key}`, method: 'PUT', key, headers, body, payloadHash: sha256 });
      if (!ok(res)) throw await failed(res, `write the object ${key}`);
      discard(res);
    },
    async delete(key) {
      const res = await call({ operation: `delete the object ${key}`, method: 'DELETE', key });
      if (!ok(res) && res.statusCode !== 404) throw await failed(res, `delete the object ${key}`);
      discard(res);
    },
    async *list(prefix, options = {}) {
      let token: string | undefined;
      do {
        const query: Array<[string, string]> = [['list-type', '2'], ['prefix', prefix]];
        if (options.delimiter !== undefined) query.push(['delimiter', options.delimiter]);
        if (options.maxKeys !== undefined) query.push(['max-keys', String(options.maxKeys)]);
        if (token !== undefined) query.push(['continuation-token', token]);
        const res = await call({ operation: `list the objects under ${prefix}`, method: 'GET', query });
        if (!ok(res)) throw await failed(res, `list the objects under ${prefix}`);
        let xml = '';
        for await (const chunk of res) xml += String(chunk);
        yield { keys: elements(xml, 'Contents').map((c) => elements(c, 'Key')[0] ?? '').filter(Boolean), prefixes: elements(xml, 'CommonPrefixes').map((c) => elements(c, 'Prefix')[0] ?? '').filter(Boolean) };
        token = /<IsTruncated>true<\/IsTruncated>/.test(xml) ? elements(xml, 'NextContinuationToken')[0] : undefined;
      } while (token !== undefined);
    },
    async createBucket() {
      const res = await call({ operation: 'create the bucket', method: 'PUT' });
      if (!ok(res)) throw await failed(res, 'create the bucket');
      discard(res);
    },
    async deleteBucket() {
      const res = await call({ operation: 'delete the bucket', method: 'DELETE' });
      if (!ok(res) && res.statusCode !== 404) throw await failed(res, 'delete the bucket');
      discard(res);
    },
  };
}

/** Some stores name the error of a body-less answer (HEAD) in a header. */
function headerCode(res: IncomingMessage): string | undefined {
  const value = res.headers['x-amz-error-code' as string] ?? res.headers['x-minio-error-code' as string];
  return typeof value === 'string' && /^[A-Za-z0-9.]{1,64}$/.test(value) ? value : undefined;
}

/** The text of each `<name>` element of `xml`, entities decoded (ListObjectsV2 answers). */
function elements(xml: string, name: string): string[] {
  const out: string[] = [];
  const re = new RegExp(`<${name}>([\\s\\S]*?)</${name}>`, 'g');
  for (let m = re.exec(xml); m !== null; m = re.exec(xml)) out.push(decodeXml(m[1]!));
  return out;
}

function decodeXml(text: string): string {
  return text.replace(/&(lt|gt|quot|apos|amp|#x?[0-9a-fA-F]+);/g, (_, e: string) => {
    switch (e) {
      case 'lt': return '<';
      case 'gt': return '>';
      case 'quot': return '"';
      case 'apos': return '\'';
      case 'amp': return '&';
      default: return String.fromCodePoint(e.startsWith('#x') ? parseInt(e.slice(2), 16) : Number(e.slice(1)));
    }
  });
}
