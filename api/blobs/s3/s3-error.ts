/**
 * What went wrong talking to an S3-compatible store, for people: which store (endpoint, bucket),
 * what the API was doing, why, and what to do. Built only from our own words, the HTTP status
 * and the store's error code (a bare identifier): never from a response body, a signature or a
 * credential, so no secret can reach a message or a log through it.
 */
import { ErrorCode, ParleyError } from '../../../common/errors.ts';

/** Why a request failed. */
export const S3Failure = {
  /** No connection, a DNS failure or a timeout. */
  Unreachable: 'unreachable',
  /** The store refused the access key or the signature (wrong key id or secret). */
  Credentials: 'credentials',
  /** The credentials are valid, but may not do this in this bucket. */
  AccessDenied: 'access-denied',
  /** The bucket does not exist. */
  NoBucket: 'no-bucket',
  /** The API's clock is too far from the store's for signatures to be accepted. */
  Clock: 'clock',
  /** The bytes sent did not hash to the SHA-256 signed for them. */
  Digest: 'digest',
  /** Anything else the store answered. */
  Other: 'other',
} as const;
export type S3Failure = (typeof S3Failure)[keyof typeof S3Failure];

/** Where the store is, for messages. */
export interface S3Where {
  endpoint: string;
  bucket: string;
}

/** Thrown by the S3 client when the store cannot be reached or refuses a request. */
export class S3StoreError extends ParleyError {
  readonly failure: S3Failure;
  readonly status: number | undefined;
  readonly s3Code: string | undefined;

  constructor(failure: S3Failure, where: S3Where, operation: string, options: { status?: number; s3Code?: string; cause?: unknown } = {}) {
    super(ErrorCode.Unavailable, messageOf(failure, where, operation, options), {
      endpoint: where.endpoint, bucket: where.bucket, operation, failure, status: options.status, s3Code: options.s3Code,
    }, { cause: options.cause });
    this.name = 'S3StoreError';
    this.failure = failure;
    this.status = options.status;
    this.s3Code = options.s3Code;
  }
}

const CREDENTIAL_CODES = new Set(['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'InvalidToken', 'ExpiredToken', 'AuthorizationHeaderMalformed', 'InvalidSecurity']);

/** The failure an S3 error code (or, without one, an HTTP status) stands for. */
export function failureOf(status: number, s3Code: string | undefined): S3Failure {
  if (s3Code !== undefined && CREDENTIAL_CODES.has(s3Code)) return S3Failure.Credentials;
  if (s3Code === 'NoSuchBucket') return S3Failure.NoBucket;
  if (s3Code === 'RequestTimeTooSkewed') return S3Failure.Clock;
  if (s3Code === 'XAmzContentSHA256Mismatch' || s3Code === 'BadDigest') return S3Failure.Digest;
  if (s3Code === 'AccessDenied' || (s3Code === undefined && status === 403)) return S3Failure.AccessDenied;
  return S3Failure.Other;
}

function messageOf(failure: S3Failure, where: S3Where, operation: string, options: { status?: number; s3Code?: string; cause?: unknown }): string {
  const store = `The S3 blob store at ${where.endpoint}`;
  const bucket = `bucket "${where.bucket}"`;
  const code = options.s3Code ?? (options.status !== undefined ? `HTTP ${options.status}` : undefined);
  switch (failure) {
    case S3Failure.Unreachable: {
      const why = (options.cause as NodeJS.ErrnoException | undefined)?.code ?? 'no answer';
      return `${store} did not answer (${why}) when the API tried to ${operation} in ${bucket}. ` +
        'Check that the store is running and reachable from the API, and that PARLEY_S3_ENDPOINT names it (scheme, host and port).';
    }
    case S3Failure.Credentials:
      return `${store} refused the API's credentials (${code}) when it tried to ${operation} in ${bucket}. ` +
        'Check PARLEY_S3_ACCESS_KEY_ID and the secret key it pairs with (the file in PARLEY_S3_SECRET_ACCESS_KEY_FILE, or PARLEY_S3_SECRET_ACCESS_KEY), and PARLEY_S3_REGION.';
    case S3Failure.AccessDenied:
      return `${store} denied the API's access key the right to ${operation} in ${bucket} (${code}). ` +
        'Give that key permission to list, read, write and delete objects under the blob prefix in the bucket, or configure a key that has it.';
    case S3Failure.NoBucket:
      return `${store} has no ${bucket}. Create the bucket, or set PARLEY_S3_BUCKET to an existing one.`;
    case S3Failure.Clock:
      return `${store} refused the API's request to ${operation} in ${bucket}: this machine's clock is too far from the store's (${code}). Synchronise the clock (NTP).`;
    case S3Failure.Digest:
      return `${store} refused to ${operation} in ${bucket}: the bytes did not hash to the SHA-256 signed for them (${code}). Nothing was stored.`;
    default:
      return `${store} answered ${code ?? 'an error'} when the API tried to ${operation} in ${bucket}. See the store's own log for why.`;
  }
}
