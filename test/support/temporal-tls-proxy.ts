/**
 * A TLS-terminating gRPC proxy in front of a plain Temporal dev server, standing in for a hosted
 * cluster (the dev server has no TLS flags). It works at the HTTP/2 level, stream by stream, so it
 * can also do what a hosted cluster's front door does with an API key: refuse a call whose
 * `authorization` header is not `Bearer <key>` with gRPC's UNAUTHENTICATED. With `clientCa` it
 * requires a client certificate signed by that CA (mTLS), refused in the TLS handshake.
 */
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';

export interface TlsProxyOptions {
  /** host:port of the plain (h2c) Temporal frontend. */
  upstream: string;
  cert: Buffer;
  key: Buffer;
  /** Require a client certificate signed by this CA (PEM). */
  clientCa?: Buffer;
  /** Refuse every call that does not carry `authorization: Bearer <apiKey>`. */
  apiKey?: string;
}

export interface TlsProxy {
  /** 127.0.0.1:port */
  address: string;
  /** Calls that reached the upstream, and calls refused for a missing or wrong API key. */
  counts: { forwarded: number; refusedApiKey: number };
  close(): Promise<void>;
}

const { HTTP2_HEADER_STATUS, NGHTTP2_FLAG_END_STREAM, NGHTTP2_CANCEL, NGHTTP2_NO_ERROR } = http2.constants;
// Connection-level headers HTTP/2 forbids forwarding; pseudo-headers are rebuilt per hop.
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection']);
const GRPC_UNAUTHENTICATED = '16';

function forwardable(headers: http2.IncomingHttpHeaders, keep: (name: string) => boolean): http2.OutgoingHttpHeaders {
  const out: http2.OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && keep(name) && !HOP_BY_HOP.has(name)) out[name] = value;
  }
  return out;
}

/** Starts the proxy on a free loopback port. */
export async function startTlsProxy(options: TlsProxyOptions): Promise<TlsProxy> {
  const upstream = http2.connect(`http://${options.upstream}`);
  upstream.on('error', () => undefined);
  const counts = { forwarded: 0, refusedApiKey: 0 };
  const sessions = new Set<http2.ServerHttp2Session>();
  const server = http2.createSecureServer({
    cert: options.cert,
    key: options.key,
    ALPNProtocols: ['h2'],
    ...(options.clientCa ? { ca: options.clientCa, requestCert: true, rejectUnauthorized: true } : {}),
  });
  server.on('session', (session) => {
    sessions.add(session);
    session.on('close', () => sessions.delete(session));
    session.on('error', () => undefined);
  });
  // A refused handshake (wrong CA at the client, no client certificate) is the test's point, not an error here.
  server.on('tlsClientError', () => undefined);

  server.on('stream', (stream, headers) => {
    stream.on('error', () => undefined);
    if (options.apiKey !== undefined && headers.authorization !== `Bearer ${options.apiKey}`) {
      counts.refusedApiKey += 1;
      // Trailers-only response, as gRPC servers send for a call refused up front.
      stream.respond({ [HTTP2_HEADER_STATUS]: 200, 'content-type': 'application/grpc', 'grpc-status': GRPC_UNAUTHENTICATED, 'grpc-message': 'API key missing or not valid' }, { endStream: true });
      return;
    }
    counts.forwarded += 1;
    const request = forwardable(headers, (name) => !name.startsWith(':') && name !== 'authorization');
    const call = upstream.request({ ...request, ':method': headers[':method'], ':path': headers[':path'], ':authority': headers[':authority'], ':scheme': 'http' });
    call.on('error', () => undefined);
    let trailers: http2.OutgoingHttpHeaders = {};
    let ended = false;
    call.on('response', (responseHeaders, flags) => {
      if (stream.closed) return;
      const head = forwardable(responseHeaders, (name) => !name.startsWith(':') || name === HTTP2_HEADER_STATUS);
      ended = (flags & NGHTTP2_FLAG_END_STREAM) !== 0;
      // Trailers-only (a call refused or failed at once): the status is in these headers.
      if (ended) stream.respond(head, { endStream: true });
      else stream.respond(head, { waitForTrailers: true });
    });
    call.on('trailers', (t) => (trailers = forwardable(t, (name) => !name.startsWith(':'))));
    stream.on('wantTrailers', () => stream.sendTrailers(trailers));
    call.on('data', (chunk: Buffer) => {
      if (!stream.closed) stream.write(chunk);
    });
    call.on('end', () => {
      if (!ended && !stream.closed) stream.end();
    });
    stream.on('data', (chunk: Buffer) => call.write(chunk));
    stream.on('end', () => call.end());
    // Either side going away (a cancelled long poll, a stopped worker) ends the other.
    stream.on('close', () => {
      if (!call.closed) call.close(NGHTTP2_CANCEL);
    });
    // Only a reset is passed on: a call that ended normally still owes the client its trailers.
    call.on('close', () => {
      if (call.rstCode !== undefined && call.rstCode !== NGHTTP2_NO_ERROR && !stream.closed) stream.close(call.rstCode);
    });
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    address: `127.0.0.1:${port}`,
    counts,
    async close() {
      for (const session of sessions) session.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      upstream.destroy();
    },
  };
}
