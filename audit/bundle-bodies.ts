/**
 * A bundle's sealed bodies, as files beside it: `run.audit.json` keeps them in `run.audit.bodies/`,
 * one file per body named by its digest, holding exactly the bytes the blob store held (the
 * nonce, then the sealed chunks: ciphertext only). The bundle names that directory
 * (`bodiesDirectory`), so moving both together keeps them together.
 *
 * Why files and not base64 inside the bundle's JSON: a step may send up to its site's
 * `limits.stepSendBytes` (1 GiB by default), and the whole point of detaching bodies is that no
 * one holds one whole in memory. A JSON bundle is read whole and a JavaScript string stops at
 * about 512 MiB; files stream, and are hashed and opened chunk by chunk.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ErrorCode, isParleyError, ParleyError } from '../common/errors.ts';
import type { BodySource, DetachedBody } from './detached-bodies.ts';

/** A base64url SHA-256: the only names a body file has (no separator, no dot, so no path tricks). */
const DIGEST = /^[A-Za-z0-9_-]{43}$/;

/** The directory name for a bundle file's bodies: `run.audit.json` → `run.audit.bodies`. */
export function bodiesDirectoryName(bundleFile: string): string {
  return `${basename(bundleFile).replace(/\.json$/i, '')}.bodies`;
}

/** Where a bundle file's bodies go: the directory of {@link bodiesDirectoryName} beside it. */
export function bodiesDirectoryBeside(bundleFile: string): string {
  return join(dirname(bundleFile), bodiesDirectoryName(bundleFile));
}

/** True for a name a bundle may give its bodies directory: one plain name beside the bundle. */
export function isBodiesDirectoryName(name: unknown): name is string {
  return typeof name === 'string' && name !== '' && name !== '.' && name !== '..' && !/[/\\\0]/.test(name);
}

/**
 * The bodies of the bundle at `bundleFile`, read from its directory `name` beside it. A digest
 * that is not a base64url SHA-256 reads as absent: it is never made into a path.
 */
export function directoryBodies(bundleFile: string, name: string): BodySource {
  if (!isBodiesDirectoryName(name)) throw new TypeError('directoryBodies: the directory must be a plain name beside the bundle');
  const directory = join(dirname(bundleFile), name);
  return {
    where: `the bodies directory ${directory}`,
    async read(digest) {
      if (!DIGEST.test(digest)) return undefined;
      // Opened now, so a missing file is known before anyone starts reading.
      const handle = await open(join(directory, digest), 'r').catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return undefined;
        throw err;
      });
      return handle?.createReadStream();
    },
  };
}

/** Streams one blob of a run (e.g. GET /v1/blobs/{runId}/{digest} as an auditor), no more than `size` bytes. */
export type FetchBlobStream = (runId: string, digest: string, size: number) => Promise<AsyncIterable<Uint8Array>>;

/** Where the bodies come from, and how to name it in errors. */
export interface BodyFetcher {
  stream: FetchBlobStream;
  source: string;
}

function what(body: DetachedBody): string {
  const b = body.binding;
  return `The sealed body ${body.digest} (${body.size} bytes) of the message seq ${b.seq} from "${b.from}" at step "${b.step}" of run "${b.runId}"`;
}

// A 404 from the API, or a store's own BlobMissing: the body is not (or no longer) there.
function isMissing(err: unknown): boolean {
  return isParleyError(err, ErrorCode.BlobMissing) || (typeof err === 'object' && err !== null && (err as { status?: unknown }).status === 404);
}

/**
 * Fetches each body into `directory` (created if need be), checked on the way against the
 * length and SHA-256 its envelope names; a body is renamed into place only once it checked, so
 * the directory never holds bytes that are not a signed body. Content addressing makes a second
 * export into the same directory safe.
 * @throws ParleyError BlobMissing (removed with the run's retention, or never stored) or
 *   EnvelopeTampered (the store gave other bytes), naming the run, the digest and what to do.
 */
export async function writeBundleBodies(bodies: readonly DetachedBody[], directory: string, fetcher: BodyFetcher): Promise<void> {
  if (bodies.length === 0) return;
  await mkdir(directory, { recursive: true });
  for (const body of bodies) {
    const temporary = join(directory, `.${body.digest}.${randomBytes(4).toString('hex')}.tmp`);
    try {
      const { size, digest } = await fetchInto(body, temporary, fetcher);
      if (size !== body.size || digest !== body.digest) {
        const gave = size === body.size ? 'bytes of another SHA-256' : size > body.size ? `more than ${body.size} bytes` : `${size} bytes`;
        throw new ParleyError(
          ErrorCode.EnvelopeTampered,
          `${what(body)} is not the body its sender signed: ${fetcher.source} gave ${gave}. ` +
            'The store altered or swapped it, and the bundle was not written. Tell the API\'s operator; export with --without-bodies to audit the rest (verify will name this body as missing).',
          { runId: body.binding.runId, digest: body.digest, reason: size === body.size ? 'body-digest' : 'body-size' },
        );
      }
      await rename(temporary, join(directory, body.digest));
    } finally {
      await rm(temporary, { force: true });
    }
  }
}

async function fetchInto(body: DetachedBody, file: string, fetcher: BodyFetcher): Promise<{ size: number; digest: string }> {
  const hash = createHash('sha256');
  let size = 0;
  try {
    const source = await fetcher.stream(body.binding.runId, body.digest, body.size);
    await pipeline(Readable.from((async function* () {
      for await (const piece of source) {
        hash.update(piece);
        size += piece.length;
        yield piece;
      }
    })()), createWriteStream(file, { mode: 0o644, flags: 'wx' }));
  } catch (err) {
    if (isMissing(err)) {
      throw new ParleyError(
        ErrorCode.BlobMissing,
        `${what(body)} is not at ${fetcher.source}: it was removed with the run's retention (by default 7 days after the run ended), or never stored. ` +
          'Export a run\'s bundle soon after it ends; or export with --without-bodies, and verify will name the bodies it lacks.',
        { runId: body.binding.runId, digest: body.digest },
        { cause: err },
      );
    }
    // Longer than the envelope names (the API client stops reading there): the store's bytes are not the body.
    if (typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 'ERR_BLOB_TOO_LONG') return { size: body.size + 1, digest: '' };
    throw err;
  }
  return { size, digest: hash.digest('base64url') };
}
