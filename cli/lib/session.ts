/**
 * What the commands that call the API share: their argument shape (`parley <noun> <verb> …`), the
 * stored login turned into a client, and API failures worded for people. Not a command itself.
 */
import type { ParseArgsConfig } from 'node:util';
import type { ApiClient, ApiClientError } from '../../activities/api-client.ts';
import { ErrorCode, ParleyError } from '../../common/errors.ts';
import { parseUsage, UsageError, type CommandIo } from './command.ts';
import type { StoredLogin } from './config-store.ts';

type Options = NonNullable<ParseArgsConfig['options']>;

/** Options every API command takes. */
export const API_OPTIONS = {
  api: { type: 'string' },
  json: { type: 'boolean', default: false },
} as const satisfies Options;

/**
 * Parses `<verb> <positional…> --options`: strict, so an unknown option or a missing or extra
 * argument is a UsageError (exit 2).
 */
export function parseVerb<const O extends Options>(argv: string[], verb: string, positionals: readonly string[], options: O) {
  const parsed = parseUsage({ args: argv, options, strict: true, allowPositionals: true });
  const [given, ...rest] = parsed.positionals;
  if (given !== verb) {
    throw new UsageError(given === undefined ? `missing "${verb}".` : `unknown subcommand "${given}"; the only one is "${verb}".`);
  }
  if (rest.length < positionals.length) throw new UsageError(`missing <${positionals[rest.length]}>.`);
  if (rest.length > positionals.length) throw new UsageError(`unexpected argument "${rest[positionals.length]}".`);
  return { values: parsed.values, args: rest };
}

/** A required option's value, or a UsageError naming it. */
export function required(value: string | undefined, option: string): string {
  if (value === undefined || value === '') throw new UsageError(`${option} is required.`);
  return value;
}

/** An http(s) base URL without trailing slashes. @throws UsageError otherwise. */
export function apiUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`--api "${text}" is not a URL; give the server's address, e.g. http://127.0.0.1:8620.`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--api must be an http:// or https:// URL; got "${text}".`);
  if (url.username || url.password || url.search || url.hash) throw new UsageError('--api takes the server\'s address only: no user, password, query or fragment.');
  return url.toString().replace(/\/+$/, '');
}

/** A client over the stored login, and who it speaks for. */
export interface Session {
  client: ApiClient;
  login: StoredLogin;
}

const loginHint = (api: string | undefined, username: string | undefined) =>
  `Run: parley login --api ${api ?? 'URL'} --username ${username ?? 'NAME'}`;

/**
 * The stored login as a client. `api` (from --api) must be the server that login is for.
 * @throws ParleyError Unauthenticated when there is no login, it is for another server, or it has expired.
 */
export async function openSession(io: CommandIo, api: string | undefined): Promise<Session> {
  const { credentialsFile, loadLogin } = await import('./config-store.ts');
  const file = credentialsFile(io.env);
  const login = await loadLogin(file);
  const wanted = api === undefined ? undefined : apiUrl(api);
  if (login === undefined) {
    throw new ParleyError(ErrorCode.Unauthenticated, `You are not logged in${wanted ? ` to ${wanted}` : ''} (no stored login in ${file}). ${loginHint(wanted, undefined)}`);
  }
  if (wanted !== undefined && wanted !== login.api) {
    throw new ParleyError(ErrorCode.Unauthenticated, `Your stored login is for ${login.api}, not ${wanted}. Log in there first. ${loginHint(wanted, undefined)}`);
  }
  // A few seconds' margin: a token that expires in flight fails the request anyway.
  const expires = Date.parse(login.expiresAt);
  if (!Number.isFinite(expires) || expires - 5_000 <= Date.now()) {
    throw new ParleyError(ErrorCode.Unauthenticated, `Your login to ${login.api} as ${login.username} expired at ${login.expiresAt}. ${loginHint(login.api, login.username)}`);
  }
  const { createApiClient } = await import('../../activities/api-client.ts');
  return { client: createApiClient(login.api, login.token), login };
}

const KNOWN_CODES = new Set<string>(Object.values(ErrorCode));

/**
 * An API failure worded for people: what failed, then the API's own what/why/what-to-do, then
 * `hint`. The client's message is "METHOD /path: detail"; people need the detail. Never holds the
 * token: the client's errors never do.
 */
export function apiFailure(err: ApiClientError, what: string, hint = ''): ParleyError {
  const detail = err.message.replace(/^[A-Z]+ \/\S*: /, '');
  const code = err.code !== undefined && KNOWN_CODES.has(err.code) ? (err.code as ErrorCode) : ErrorCode.Unavailable;
  return new ParleyError(code, `${what} failed: ${detail}${hint ? ` ${hint}` : ''}`, { status: err.status }, { cause: err });
}

/** Runs one API call; an ApiClientError becomes apiFailure's ParleyError. */
export async function callApi<T>(session: Session, what: string, fn: (client: ApiClient) => Promise<T>): Promise<T> {
  const { ApiClientError } = await import('../../activities/api-client.ts');
  try {
    return await fn(session.client);
  } catch (err) {
    if (!(err instanceof ApiClientError)) throw err;
    const hint = err.status === 401 ? `Your login may have expired or been revoked. ${loginHint(session.login.api, session.login.username)}` : '';
    throw apiFailure(err, what, hint);
  }
}
