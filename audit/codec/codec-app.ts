/**
 * The codec server for the Temporal Web UI and CLI (Temporal's remote codec protocol): POST
 * `/decode` and `/encode` (also under `/{namespace}/…`, for the CLI's `--codec-endpoint`
 * templating) with `{ "payloads": [...] }` in proto3 JSON, answered in kind.
 *
 * /decode shows each envelope as its metadata (describe-envelope.ts) and opens each failure sealed
 * at a site (failure-codec.ts) when it holds that site's key; never an envelope's content unless opened with this server's own
 * organisation key. /encode is the identity: Parley's payloads are JSON, and anything the UI
 * sends (a signal, a reset reason) needs no sealing by this server.
 *
 * Every call needs the server's token, names this server in Host and, from a browser, comes from
 * a configured Web UI origin (codec-guard.ts). The routes are served at the root (for the CLI's
 * `--codec-auth "Bearer <token>"`) and under `/t/<token>/` (the Web UI's endpoint setting).
 *
 * CORS: the UI calls from its own origin, with `credentials: include` when configured and the
 * headers `Content-Type`, `X-Namespace` and (passing the user's access token) `Authorization`;
 * a preflight OPTIONS precedes each call. Only the configured UI origins are answered.
 */
import { Hono, type Context } from 'hono';
import { cors } from 'hono/cors';
import { envelopesIn } from '../history-envelopes.ts';
import { describeAttestation, describeBlobRef, describeEnvelope, type DescribeOptions } from './describe-envelope.ts';
import { blobRefsIn, looksLikeBlobRef } from '../bundle-blobs.ts';
import { isSealedFailure, openSealedFailure } from '../../activities/failure-codec.ts';
import { isPayloadsBody, jsonOf, jsonPayload, type JsonPayload } from '../proto-payloads.ts';
import { codecGuard } from './codec-guard.ts';

/** The Web UI's origins when none are given: `temporal server start-dev` serves it on 8233. */
export const DEFAULT_UI_ORIGINS = ['http://localhost:8233', 'http://127.0.0.1:8233'];

export interface CodecAppOptions extends DescribeOptions {
  /** The token every call carries (codec-guard.ts); at least 22 characters. */
  token: string;
  /** Origins allowed to call (the Web UI's). Default DEFAULT_UI_ORIGINS. */
  corsOrigins?: string[];
  /** Hostnames the Host header may name besides the loopback ones (for `--allow-remote`). */
  hostnames?: string[];
}

/** True when `value` holds an envelope or a blob reference somewhere. */
function holdsSealed(value: unknown): boolean {
  return envelopesIn(value).length > 0 || blobRefsIn(value).length > 0;
}

/**
 * Replaces every envelope inside a JSON value with its view, every blob reference with its blob's
 * (fetched and checked when the server can), and a step's attestation with its claims.
 */
async function describeIn(value: unknown, options: DescribeOptions): Promise<unknown> {
  if (Array.isArray(value)) return Promise.all(value.map((v) => describeIn(v, options)));
  if (typeof value !== 'object' || value === null) return value;
  if (!holdsSealed(value)) return value;
  if (looksLikeBlobRef(value)) return describeBlobRef(value, options);
  if ('v' in value && 'binding' in value && 'jwe' in value) return describeEnvelope(value, options);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = k === 'attestation' && typeof v === 'string' ? await describeAttestation(v, (value as { org?: unknown }).org, options) : await describeIn(v, options);
  }
  return out;
}

/** One payload as /decode returns it. */
async function decodePayload(payload: JsonPayload, options: CodecAppOptions): Promise<JsonPayload> {
  const value = jsonOf(payload);
  if (isSealedFailure(value)) {
    const opened = await openSealedFailure(value, options.keys);
    return opened === undefined ? payload : jsonPayload(opened);
  }
  if (value === undefined || !holdsSealed(value)) return payload;
  return jsonPayload(await describeIn(value, options));
}

/**
 * The codec server as a Hono app (serve it with @hono/node-server; test it with app.request).
 *
 * @throws TypeError when the token is shorter than 22 characters.
 */
export function createCodecApp(options: CodecAppOptions): Hono {
  const origins = options.corsOrigins ?? DEFAULT_UI_ORIGINS;
  const app = new Hono();
  app.use('*', codecGuard({ token: options.token, origins, hostnames: options.hostnames ?? [] }));
  app.use('*', cors({
    origin: origins,
    allowMethods: ['POST', 'OPTIONS'],
    allowHeaders: ['Content-Type', 'X-Namespace', 'Authorization'],
    credentials: true,
    maxAge: 600,
  }));
  const readBody = async (body: Promise<unknown>) => {
    const value = await body.catch(() => undefined);
    return isPayloadsBody(value) ? value : undefined;
  };
  const decode = async (c: Context) => {
    const body = await readBody(c.req.json());
    if (!body) return c.json({ error: 'Expected a JSON body { "payloads": [...] } (Temporal\'s remote codec protocol).' }, 400);
    return c.json({ payloads: await Promise.all(body.payloads.map((p) => decodePayload(p, options))) });
  };
  const encode = async (c: Context) => {
    const body = await readBody(c.req.json());
    if (!body) return c.json({ error: 'Expected a JSON body { "payloads": [...] } (Temporal\'s remote codec protocol).' }, 400);
    return c.json({ payloads: body.payloads });
  };
  const routes = new Hono();
  routes.post('/decode', decode);
  routes.post('/encode', encode);
  routes.post('/:namespace/decode', decode);
  routes.post('/:namespace/encode', encode);
  app.get('/healthz', (c) => c.text('ok'));
  app.route('/t/:token', routes);
  app.route('/', routes);
  return app;
}
