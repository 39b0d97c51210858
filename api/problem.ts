/**
 * Every error response is an RFC 9457 problem document (application/problem+json) carrying
 * Parley's stable `code`. Bad input of any kind is a 4xx naming the field and the fix; anything
 * unexpected is a bare 500 whose only trace is a log line without messages or parameters (a
 * Drizzle query error's message holds the query's parameters, hashes included).
 *
 * @see https://www.rfc-editor.org/rfc/rfc9457
 */
import type { Context, ErrorHandler, NotFoundHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ZodError } from 'zod';
import { ErrorCode, isParleyError } from '../common/errors.ts';
import { PgCode, pgErrorOf } from '../db/pg-error.ts';
import { ApiError, STATUS_BY_CODE } from './errors.ts';
import type { FieldError } from './errors.ts';
import type { Logger } from './logger.ts';

const TITLES: Record<number, string> = {
  400: 'Invalid input', 401: 'Authentication required', 403: 'Forbidden', 404: 'Not found',
  409: 'Conflict', 413: 'Payload too large', 415: 'Unsupported media type', 429: 'Too many requests',
  500: 'Internal server error', 503: 'Service unavailable',
};

const FIX = '/openapi.json describes every field.';

// Unique constraints and the field a duplicate is about, for violations no handler pre-empted
// (two requests racing to create the same name).
const UNIQUE_FIELDS: Record<string, string> = {
  organisations_pkey: 'id',
  organisations_name_unique: 'name',
  users_username_unique: 'username',
  collaborations_name_unique: 'name',
  collaboration_members_pk: 'orgId',
  sites_live_unique: 'orgId',
  org_keys_thumbprint_unique: 'keys',
  org_keys_current_unique: 'keys',
  runs_pkey: 'runId',
};

interface ProblemInput {
  status: number;
  code: string;
  detail: string;
  errors?: readonly FieldError[];
  headers?: Record<string, string>;
}

/** Writes a problem document. */
export function problem(c: Context, input: ProblemInput): Response {
  const body: Record<string, unknown> = {
    type: `urn:parley:error:${input.code}`,
    title: TITLES[input.status] ?? 'Error',
    status: input.status,
    detail: input.detail,
    code: input.code,
    instance: c.req.path.length <= 200 ? c.req.path : undefined,
  };
  if (input.errors && input.errors.length > 0) body.errors = input.errors;
  return new Response(JSON.stringify(body), {
    status: input.status,
    headers: { 'content-type': 'application/problem+json', ...input.headers },
  });
}

/** The zod-openapi defaultHook: a failed validation becomes a 400 listing every field at fault. */
export function validationHook(result: { success: boolean; error?: unknown; target: string }): void {
  if (result.success) return;
  const where = ({ json: 'body', param: 'path', query: 'query', header: 'header' } as const)[result.target as 'json'] ?? 'body';
  const errors = fieldErrors(result.error as ZodError, where);
  const listed = errors.map((e) => `${e.field} ${e.message}`).join('; ');
  const detail = errors.length === 1
    ? `${listed}. Correct it and send the request again; ${FIX}`
    : `${errors.length} fields are invalid: ${listed}. Correct them and send the request again; ${FIX}`;
  throw new ApiError(ErrorCode.InvalidInput, detail, { errors });
}

function fieldErrors(error: ZodError, where: FieldError['in']): FieldError[] {
  const out: FieldError[] = [];
  for (const issue of error.issues.slice(0, 20)) {
    const base = fieldPath(issue.path);
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys.slice(0, 10)) {
        out.push({ in: where, field: joinField(base, short(key)), message: 'is not a known field: remove it' });
      }
      continue;
    }
    out.push({ in: where, field: base === '' ? '(the whole value)' : base, message: issueMessage(issue.message) });
  }
  return out;
}

// Zod says "Invalid input: expected string, received undefined"; people read "is required".
function issueMessage(message: string): string {
  const typed = /expected ([\w ]+), received (\w+)/.exec(message);
  if (typed) return typed[2] === 'undefined' ? `is required (${typed[1]})` : `must be ${typed[1]}, not ${typed[2]}`;
  return message.replace(/^Invalid input: /, '');
}

function fieldPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((acc, part) => typeof part === 'number' ? `${acc}[${part}]` : joinField(acc, short(String(part))), '');
}

function joinField(base: string, key: string): string {
  return base === '' ? key : `${base}.${key}`;
}

// Field names come from the caller: keep them short in messages.
function short(text: string): string {
  return text.length > 64 ? `${text.slice(0, 61)}...` : text;
}

/** The one onError: known errors become problem documents; the rest a bare, logged 500. */
export function createErrorHandler(logger: Logger): ErrorHandler {
  return (err, c) => {
    if (err instanceof ApiError) {
      const headers: Record<string, string> = err.retryAfterSeconds === undefined ? {} : { 'retry-after': String(err.retryAfterSeconds) };
      if (err.status === 401) headers['www-authenticate'] = 'Bearer realm="parley"';
      return problem(c, { status: err.status, code: err.code, detail: err.message, errors: err.errors, headers });
    }
    if (isParleyError(err) && STATUS_BY_CODE[err.code] !== undefined) {
      return problem(c, { status: STATUS_BY_CODE[err.code]!, code: err.code, detail: err.message });
    }
    if (err instanceof HTTPException && err.status < 500) return fromHttpException(c, err);
    const pg = pgErrorOf(err);
    if (pg?.code === PgCode.UniqueViolation) {
      const field = UNIQUE_FIELDS[pg.constraint ?? ''] ?? 'id';
      const detail = `${field} is already taken by an existing record. Choose another ${field}, or use the existing one.`;
      return problem(c, { status: 409, code: ErrorCode.Conflict, detail, errors: [{ in: 'body', field, message: 'is already taken' }] });
    }
    if (pg?.code === PgCode.ForeignKeyViolation) {
      return problem(c, { status: 404, code: ErrorCode.NotFound, detail: 'The request names an id that does not exist. Check the ids in the request.' });
    }
    if (pg !== undefined && pg.code.startsWith('22')) {
      // Data exceptions (e.g. text the database cannot store): the input's fault, nothing written.
      return problem(c, { status: 400, code: ErrorCode.InvalidInput, detail: 'A value in the request cannot be stored (for example text with a NUL character). Send plain printable text.' });
    }
    logger.error('request failed', { method: c.req.method, route: c.req.routePath, error: errorName(err), pgCode: pg?.code, stack: frames(err) });
    return new Response(JSON.stringify({ type: 'about:blank', title: TITLES[500], status: 500 }), {
      status: 500, headers: { 'content-type': 'application/problem+json' },
    });
  };
}

function fromHttpException(c: Context, err: HTTPException): Response {
  if (err.status === 415) {
    return problem(c, { status: 415, code: ErrorCode.InvalidInput, detail: 'The request body must be JSON. Send it with Content-Type: application/json.' });
  }
  if (err.status === 400 && /JSON/i.test(err.message)) {
    return problem(c, { status: 400, code: ErrorCode.InvalidInput, detail: 'The request body is not valid JSON. Check quoting, commas and brackets, and send Content-Type: application/json.', errors: [{ in: 'body', field: '(the whole body)', message: 'is not valid JSON' }] });
  }
  return problem(c, { status: err.status, code: ErrorCode.InvalidInput, detail: 'The request is malformed. Check it against /openapi.json and send it again.' });
}

function errorName(err: unknown): string {
  return err instanceof Error ? err.name : typeof err;
}

// Stack frames only: the first lines of a stack repeat the message, and messages may hold secrets.
function frames(err: unknown): string | undefined {
  if (!(err instanceof Error) || err.stack === undefined) return undefined;
  return err.stack.split('\n').filter((line) => /^\s+at /.test(line)).slice(0, 8).join(' | ');
}

/** Unknown paths: a 404 problem document. */
export const handleNotFound: NotFoundHandler = (c) => problem(c, {
  status: 404,
  code: ErrorCode.NotFound,
  detail: `There is no route ${c.req.method} ${c.req.path.length <= 100 ? c.req.path : 'for this path'}. The routes are listed in /openapi.json.`,
});
