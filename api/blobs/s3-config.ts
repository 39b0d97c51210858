/**
 * How a deployment points the API's blob store at an S3-compatible store: environment variables,
 * read once by the process's edge (`parley server start`) and passed down.
 *
 *   PARLEY_S3_BUCKET                  the bucket; setting it selects the S3 store (default: files
 *                                     under the state directory)
 *   PARLEY_S3_ENDPOINT                the store's URL, e.g. https://s3.eu-central-1.amazonaws.com
 *   PARLEY_S3_REGION                  the signing region (default us-east-1)
 *   PARLEY_S3_PREFIX                  the key prefix blobs go under (default parley/blobs)
 *   PARLEY_S3_ADDRESSING              path (default) or virtual (bucket.host)
 *   PARLEY_S3_ACCESS_KEY_ID           the access key id
 *   PARLEY_S3_SECRET_ACCESS_KEY_FILE  a file holding the secret key (preferred: not in the
 *                                     process's environment), or
 *   PARLEY_S3_SECRET_ACCESS_KEY       the secret key itself
 *
 * The secret is never part of a message, a log line or what `describe` returns.
 */
import { readFile } from 'node:fs/promises';
import { ErrorCode, ParleyError } from '../../common/errors.ts';
import type { S3ClientConfig } from './s3/s3-client.ts';

/** The S3 store's settings. */
export interface S3BlobConfig extends S3ClientConfig {
  /** Key prefix, without leading or trailing slash; '' for the bucket's root. */
  prefix: string;
}

export const DEFAULT_S3_PREFIX = 'parley/blobs';
const PREFIX = /^(?:[A-Za-z0-9._-]+(?:\/[A-Za-z0-9._-]+)*)?$/;

function invalid(message: string, variable: string): ParleyError {
  return new ParleyError(ErrorCode.InvalidInput, message, { variable });
}

/**
 * The S3 store's settings from `env`, or undefined when PARLEY_S3_BUCKET is not set (the
 * embedded file store then holds the blobs).
 *
 * @throws ParleyError InvalidInput naming the variable that is missing or wrong and what it takes.
 */
export async function readS3BlobConfig(env: NodeJS.ProcessEnv): Promise<S3BlobConfig | undefined> {
  const bucket = env.PARLEY_S3_BUCKET || undefined;
  if (bucket === undefined) {
    const stray = ['PARLEY_S3_ENDPOINT', 'PARLEY_S3_ACCESS_KEY_ID', 'PARLEY_S3_SECRET_ACCESS_KEY', 'PARLEY_S3_SECRET_ACCESS_KEY_FILE'].find((v) => env[v]);
    if (stray) throw invalid(`${stray} is set but PARLEY_S3_BUCKET is not, so the API would keep its blobs in its state directory, not in S3. Set PARLEY_S3_BUCKET to the bucket, or unset ${stray}.`, 'PARLEY_S3_BUCKET');
    return undefined;
  }
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) throw invalid(`PARLEY_S3_BUCKET "${bucket}" is not a bucket name: 3 to 63 lower-case letters, digits, dots and hyphens.`, 'PARLEY_S3_BUCKET');
  const endpoint = env.PARLEY_S3_ENDPOINT || undefined;
  if (endpoint === undefined) throw invalid('PARLEY_S3_BUCKET is set but PARLEY_S3_ENDPOINT is not. Set it to the store\'s URL, e.g. https://s3.eu-central-1.amazonaws.com or http://127.0.0.1:8333.', 'PARLEY_S3_ENDPOINT');
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw invalid('PARLEY_S3_ENDPOINT is not a URL. Set it to the store\'s URL with its scheme, e.g. https://s3.eu-central-1.amazonaws.com.', 'PARLEY_S3_ENDPOINT');
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.username || url.password || url.search) {
    throw invalid('PARLEY_S3_ENDPOINT must be an http(s) URL without credentials or a query. Give the key in PARLEY_S3_ACCESS_KEY_ID and the secret in PARLEY_S3_SECRET_ACCESS_KEY_FILE.', 'PARLEY_S3_ENDPOINT');
  }
  const prefix = env.PARLEY_S3_PREFIX ?? DEFAULT_S3_PREFIX;
  if (!PREFIX.test(prefix)) throw invalid(`PARLEY_S3_PREFIX "${prefix}" is not a key prefix: path segments of letters, digits, dots, hyphens and underscores, separated by single slashes, none at either end.`, 'PARLEY_S3_PREFIX');
  const addressing = env.PARLEY_S3_ADDRESSING || 'path';
  if (addressing !== 'path' && addressing !== 'virtual') throw invalid(`PARLEY_S3_ADDRESSING must be "path" or "virtual", not "${addressing}".`, 'PARLEY_S3_ADDRESSING');
  const accessKeyId = env.PARLEY_S3_ACCESS_KEY_ID || undefined;
  if (accessKeyId === undefined) throw invalid('PARLEY_S3_BUCKET is set but PARLEY_S3_ACCESS_KEY_ID is not. Set it to the access key id the API signs its requests with.', 'PARLEY_S3_ACCESS_KEY_ID');
  return {
    endpoint: url.toString().replace(/\/$/, ''), bucket, region: env.PARLEY_S3_REGION || 'us-east-1', prefix, addressing, accessKeyId,
    secretAccessKey: await secretOf(env),
  };
}

async function secretOf(env: NodeJS.ProcessEnv): Promise<string> {
  const file = env.PARLEY_S3_SECRET_ACCESS_KEY_FILE || undefined;
  const inline = env.PARLEY_S3_SECRET_ACCESS_KEY || undefined;
  if (file !== undefined && inline !== undefined) throw invalid('Both PARLEY_S3_SECRET_ACCESS_KEY_FILE and PARLEY_S3_SECRET_ACCESS_KEY are set. Set only one (the file is better: it keeps the secret out of the environment).', 'PARLEY_S3_SECRET_ACCESS_KEY');
  if (inline !== undefined) return inline;
  if (file === undefined) throw invalid('PARLEY_S3_BUCKET is set but no secret key is: put it in a file (mode 0600) named by PARLEY_S3_SECRET_ACCESS_KEY_FILE, or in PARLEY_S3_SECRET_ACCESS_KEY.', 'PARLEY_S3_SECRET_ACCESS_KEY_FILE');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ParleyError(ErrorCode.InvalidInput, `PARLEY_S3_SECRET_ACCESS_KEY_FILE names ${file}, which cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'}). Check the path and that the API's user may read it.`, { variable: 'PARLEY_S3_SECRET_ACCESS_KEY_FILE', path: file });
  }
  const secret = text.trim();
  if (secret === '') throw invalid(`PARLEY_S3_SECRET_ACCESS_KEY_FILE names ${file}, which is empty. Put the secret key in it.`, 'PARLEY_S3_SECRET_ACCESS_KEY_FILE');
  return secret;
}

/** The settings for people and logs: everything but the secret. */
export function describeS3BlobConfig(config: S3BlobConfig): string {
  return `S3 bucket "${config.bucket}" at ${config.endpoint} (region ${config.region ?? 'us-east-1'}, prefix "${config.prefix}", key ${config.accessKeyId})`;
}
