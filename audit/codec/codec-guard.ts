/**
 * Who may call the codec server. With `--key` it decrypts, so reaching its port must not be
 * enough; three checks run before any payload is read, in this order:
 *
 * 1. Host: the Host header names this server (a loopback name, or a name it was told to answer
 *    to). A DNS-rebinding page — evil.example resolving to 127.0.0.1 — arrives with Host
 *    `evil.example` and is refused.
 * 2. Origin: a browser's Origin header is one of the configured Web UI origins. Calls without an
 *    Origin (the CLI, curl) pass this check; a page of any other origin does not, preflight or not.
 * 3. Token: every call but a CORS preflight and /healthz carries the server's token, as
 *    `Authorization: Bearer <token>` (the Temporal CLI's `--codec-auth`) or as the path prefix
 *    `/t/<token>/` (the Web UI: it sends no header of its own choosing, only its user's OIDC
 *    token, and only over HTTPS). Compared in constant time.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';

/** Hostnames a loopback server answers to. */
export const LOOPBACK_HOSTNAMES: readonly string[] = ['localhost', '127.0.0.1', '::1'];

/** Shortest token accepted from a file: 128 bits in base64url or hex is 22–32 characters. */
export const MIN_TOKEN_LENGTH = 22;

/** The path prefix that carries the token for the Web UI: `/t/<token>/decode`. */
export const TOKEN_PATH = /^\/t\/([A-Za-z0-9._~-]+)(\/.*)$/;

/** What the guard checks against. */
export interface CodecGuardOptions {
  /** The bearer token every call must carry. */
  token: string;
  /** Browser origins allowed to call (the Web UI's). */
  origins: readonly string[];
  /** Hostnames (no port) the Host header may name, besides the loopback ones. */
  hostnames?: readonly string[];
}

/** A fresh random token: 256 bits, base64url. */
export function newCodecToken(): string {
  return randomBytes(32).toString('base64url');
}

/** True when `address` is a loopback address or name (the only places `--key` listens by default). */
export function isLoopbackAddress(address: string): boolean {
  const bare = address.replace(/^\[|\]$/g, '').toLowerCase();
  return bare === 'localhost' || bare === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(bare);
}

function hostnameOf(host: string): string | undefined {
  try {
    const { hostname, username, password, pathname } = new URL(`http://${host}`);
    if (username !== '' || password !== '' || pathname !== '/') return undefined;
    return hostname.replace(/^\[|\]$/g, '').toLowerCase();
  } catch {
    return undefined;
  }
}

const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();

// Hashing both sides first gives equal lengths, so timingSafeEqual never throws and the time
// taken says nothing about how much of a guess was right.
function sameToken(given: string, expected: Buffer): boolean {
  return timingSafeEqual(digest(given), expected);
}

// Either place may hold it: a Web UI that passes its user's own access token sends that header
// to a /t/<token>/ endpoint too.
function presentedTokens(c: Context): string[] {
  const header = /^Bearer\s+(\S+)\s*$/i.exec(c.req.header('authorization') ?? '')?.[1];
  const inPath = TOKEN_PATH.exec(c.req.path)?.[1];
  return [header, inPath].filter((t): t is string => t !== undefined);
}

const refuse = (c: Context, status: 401 | 403, error: string) => c.json({ error }, status);

/** The guard as Hono middleware; mount it before CORS and the routes. */
export function codecGuard(options: CodecGuardOptions): MiddlewareHandler {
  if (typeof options.token !== 'string' || options.token.length < MIN_TOKEN_LENGTH) {
    throw new TypeError(`the codec server's token must be at least ${MIN_TOKEN_LENGTH} characters`);
  }
  const expected = digest(options.token);
  const hostnames = new Set([...LOOPBACK_HOSTNAMES, ...(options.hostnames ?? [])].map((h) => h.toLowerCase()));
  const origins = new Set(options.origins);
  return async (c, next) => {
    const host = hostnameOf(c.req.header('host') ?? new URL(c.req.url).host);
    if (host === undefined || !hostnames.has(host)) {
      return refuse(c, 403, 'The Host header does not name this codec server; it answers only to its own address. Call it by the address it listens on.');
    }
    const origin = c.req.header('origin');
    if (origin !== undefined && !origins.has(origin)) {
      return refuse(c, 403, `Origin "${origin.slice(0, 100)}" may not call this codec server. Start it with --ui-origin set to the Web UI's origin.`);
    }
    if (c.req.method === 'OPTIONS' || c.req.path === '/healthz') return next();
    if (!presentedTokens(c).some((token) => sameToken(token, expected))) {
      return refuse(c, 401, 'This codec server needs its token: send "Authorization: Bearer <token>" (temporal … --codec-auth "Bearer <token>"), or use the endpoint http://<host>:<port>/t/<token> in the Web UI. The token was printed when the server started (or is in its --token-file).');
    }
    return next();
  };
}
