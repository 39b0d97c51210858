/**
 * AWS Signature Version 4 for S3 requests, over node:crypto: the canonical request, the string to
 * sign, the derived signing key and the `Authorization` header, as
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html
 * and, for S3's own rules (paths encoded once and never normalised, `x-amz-content-sha256` always
 * sent and signed), https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html.
 * Tested against the worked examples of the latter page (sigv4.test.ts).
 *
 * Pure functions: no clock, no I/O. The secret only ever enters an HMAC; nothing returned holds it.
 */
import { createHash, createHmac } from 'node:crypto';

/** Who signs, and for which region and service. */
export interface SigningKeyScope {
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
  /** Default `s3`. */
  service?: string;
}

/** A request as it will be sent. */
export interface RequestToSign {
  method: string;
  /** The path as sent, already URI-encoded (encodePath). */
  path: string;
  /** Query parameters, unencoded; order does not matter. */
  query?: ReadonlyArray<readonly [string, string]>;
  /** Every header sent that is to be signed, `host` and `x-amz-date` among them; names in any case. */
  headers: Readonly<Record<string, string>>;
  /** Hex SHA-256 of the body, or `UNSIGNED-PAYLOAD` (the value of `x-amz-content-sha256`). */
  payloadHash: string;
}

/** The signature and what it was computed over (for tests and debugging; none of it is secret). */
export interface SignedRequest {
  authorization: string;
  signature: string;
  canonicalRequest: string;
  stringToSign: string;
  signedHeaders: string;
}

/** The hex SHA-256 of the empty body. */
export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/**
 * URI-encodes as SigV4 wants: every byte but the RFC 3986 unreserved characters
 * (A–Z a–z 0–9 - . _ ~) as %XX with upper-case hex; `/` kept when `keepSlash`.
 */
export function uriEncode(text: string, keepSlash = false): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    const c = String.fromCharCode(byte);
    if (/[A-Za-z0-9\-._~]/.test(c) || (keepSlash && c === '/')) out += c;
    else out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** A path as S3 signs and receives it: each segment encoded once, slashes kept. */
export function encodePath(path: string): string {
  return uriEncode(path, true);
}

/** The query string, sorted by encoded name then value, as both signed and sent. */
export function canonicalQuery(query: ReadonlyArray<readonly [string, string]> = []): string {
  return query
    .map(([k, v]) => [uriEncode(k), uriEncode(v)] as const)
    .sort(([ak, av], [bk, bv]) => (ak < bk ? -1 : ak > bk ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
}

const sha256Hex = (data: string) => createHash('sha256').update(data, 'utf8').digest('hex');
const hmac = (key: Buffer | string, data: string) => createHmac('sha256', key).update(data, 'utf8').digest();

/** `YYYYMMDD'T'HHMMSS'Z'`, the form of `x-amz-date`. */
export function amzDate(at: Date): string {
  return at.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

/** The signing key of a day: HMAC chain over "AWS4" + secret, date, region, service, "aws4_request". */
export function signingKey(scope: SigningKeyScope, day: string): Buffer {
  const date = hmac(`AWS4${scope.secretAccessKey}`, day);
  return hmac(hmac(hmac(date, scope.region), scope.service ?? 's3'), 'aws4_request');
}

/**
 * Signs `request` at `at` (which must be the request's `x-amz-date`).
 *
 * @throws TypeError when the headers lack `host` or an `x-amz-date` other than `at`.
 */
export function signRequest(request: RequestToSign, scope: SigningKeyScope, at: Date): SignedRequest {
  const stamp = amzDate(at);
  const headers = Object.entries(request.headers).map(([name, value]) => [name.toLowerCase(), value.trim().replace(/\s+/g, ' ')] as const);
  headers.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const has = (name: string) => headers.find(([n]) => n === name)?.[1];
  if (has('host') === undefined) throw new TypeError('a SigV4 request signs its host header: add it');
  if (has('x-amz-date') !== stamp) throw new TypeError(`x-amz-date must be the signing time ${stamp}`);
  const signedHeaders = headers.map(([n]) => n).join(';');
  const canonicalRequest = [
    request.method.toUpperCase(),
    request.path,
    canonicalQuery(request.query),
    headers.map(([n, v]) => `${n}:${v}\n`).join(''),
    signedHeaders,
    request.payloadHash,
  ].join('\n');
  const day = stamp.slice(0, 8);
  const credentialScope = `${day}/${scope.region}/${scope.service ?? 's3'}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', stamp, credentialScope, sha256Hex(canonicalRequest)].join('\n');
  const signature = createHmac('sha256', signingKey(scope, day)).update(stringToSign, 'utf8').digest('hex');
  return {
    authorization: `AWS4-HMAC-SHA256 Credential=${scope.accessKeyId}/${credentialScope},SignedHeaders=${signedHeaders},Signature=${signature}`,
    signature,
    canonicalRequest,
    stringToSign,
    signedHeaders,
  };
}
