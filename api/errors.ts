/**
 * The API's errors: a ParleyError with an HTTP status derived from its code, thrown by handlers
 * and turned into an RFC 9457 problem document by the one onError (api/problem.ts). Messages say
 * what happened, why, and what to do; they never carry a password, token, credential or key.
 */
import { ErrorCode, ParleyError } from '../common/errors.ts';

/** The HTTP status for each code the API answers with; other codes are a bare 500. */
export const STATUS_BY_CODE: Readonly<Partial<Record<ErrorCode, number>>> = {
  [ErrorCode.InvalidInput]: 400,
  [ErrorCode.KeyInvalid]: 400,
  [ErrorCode.Unauthenticated]: 401,
  [ErrorCode.Forbidden]: 403,
  [ErrorCode.NotFound]: 404,
  [ErrorCode.Conflict]: 409,
  [ErrorCode.PayloadTooLarge]: 413,
  [ErrorCode.RateLimited]: 429,
  [ErrorCode.Unavailable]: 503,
};

/** One field at fault, as listed in a problem document's `errors`. */
export interface FieldError {
  /** Where the field is: the JSON body, the path, the query string or a header. */
  in: 'body' | 'path' | 'query' | 'header';
  /** Dotted path of the field, e.g. `keys.receive.jwk.x` or `members[1]`. */
  field: string;
  message: string;
}

/** Options beyond code and message. */
export interface ApiErrorOptions {
  /** Overrides the status derived from the code (e.g. 415 for InvalidInput). */
  status?: number;
  errors?: FieldError[];
  /** Seconds until a rate-limited caller may try again (sent as Retry-After). */
  retryAfterSeconds?: number;
  details?: Record<string, string | number | boolean | undefined>;
  cause?: unknown;
}

/** An error an API caller can act on; thrown by handlers, rendered by onError. */
export class ApiError extends ParleyError {
  readonly status: number;
  readonly errors: readonly FieldError[];
  readonly retryAfterSeconds: number | undefined;

  constructor(code: ErrorCode, message: string, options: ApiErrorOptions = {}) {
    super(code, message, options.details ?? {}, { cause: options.cause });
    this.name = 'ApiError';
    this.status = options.status ?? STATUS_BY_CODE[code] ?? 500;
    this.errors = options.errors ?? [];
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

/** A 400 naming one body field and how to fix it. */
export function invalidField(field: string, message: string, where: FieldError['in'] = 'body'): ApiError {
  return new ApiError(ErrorCode.InvalidInput, `${field} ${message}`, { errors: [{ in: where, field, message }] });
}

/** A 404 for an id that does not exist or that the caller may not see (the two look alike). */
export function notFound(kind: string, id: string): ApiError {
  return new ApiError(
    ErrorCode.NotFound,
    `No ${kind} "${printable(id)}" exists, or it is not visible to you. Check the id; list what you can see with GET on the collection.`,
    { details: { kind } },
  );
}

/** A 403 saying who may do this instead. */
export function forbidden(message: string): ApiError {
  return new ApiError(ErrorCode.Forbidden, message);
}

/** A 409 for a clash with what exists. */
export function conflict(message: string, field?: string): ApiError {
  return new ApiError(ErrorCode.Conflict, message, field === undefined ? {} : { errors: [{ in: 'body', field, message }] });
}

// Ids come from the caller; a validated id is short and plain, but keep messages bounded anyway.
function printable(id: string): string {
  return id.length > 80 ? `${id.slice(0, 77)}...` : id;
}
