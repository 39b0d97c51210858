/**
 * Requests against an app with `app.request()` — no port, no server — and the parsed answer.
 */
import { expect } from 'vitest';

/** Something with Hono's request(). */
export interface Requestable {
  request(input: string, init?: RequestInit, env?: unknown): Response | Promise<Response>;
}

/** How to send one request. */
export interface CallOptions {
  token?: string;
  /** Sent as JSON. */
  body?: unknown;
  /** Sent as-is (with Content-Type application/json unless `contentType` says otherwise). */
  raw?: string;
  contentType?: string | null;
  headers?: Record<string, string>;
  /** The client address the login throttle sees. */
  ip?: string;
}

/** A parsed response. */
export interface Answer {
  status: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read whatever came back
  body: any;
  headers: Headers;
  text: string;
}

/** Sends a request; parses a JSON (or problem+json) answer. */
export async function call(app: Requestable, method: string, path: string, options: CallOptions = {}): Promise<Answer> {
  const headers: Record<string, string> = { ...options.headers };
  const payload = options.raw ?? (options.body === undefined ? undefined : JSON.stringify(options.body));
  if (payload !== undefined && options.contentType !== null) headers['content-type'] = options.contentType ?? 'application/json';
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  const env = { incoming: { socket: { remoteAddress: options.ip ?? '127.0.0.1' } } };
  const res = await app.request(path, { method, headers, body: payload }, env);
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, body, headers: res.headers, text };
}

/** Logs in and returns the access token; fails the test when login fails. */
export async function login(app: Requestable, username: string, password: string): Promise<string> {
  const res = await call(app, 'POST', '/v1/login', { body: { username, password } });
  if (res.status !== 200) throw new Error(`login as ${username} failed: ${res.status} ${res.text}`);
  return res.body.accessToken as string;
}

/** Asserts an RFC 9457 problem document with this status and code. */
export function expectProblem(res: Answer, status: number, code: string): void {
  expect({ status: res.status, code: res.body?.code }).toEqual({ status, code });
  expect(res.headers.get('content-type')).toBe('application/problem+json');
  expect(res.body).toMatchObject({ type: `urn:parley:error:${code}`, status, title: expect.any(String), detail: expect.any(String) });
}
