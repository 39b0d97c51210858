/**
 * /v1/blobs: sealed envelopes too large for a workflow history (DESIGN.md "Large payloads"), for
 * the sites of a run and its auditors. Ciphertext only: the API cannot open a blob, and checks
 * only that its bytes hash to its name.
 *
 *   PUT /v1/blobs/{runId}/{digest}   a site of the run stores a blob (its site credential); idempotent
 *   GET /v1/blobs/{runId}/{digest}   a site of the same collaboration, an auditor or an admin reads it
 *
 * Bodies stream to and from the backend (./blob-backend.ts: files under the state directory, or an
 * S3-compatible store): the API's memory does not grow with a blob.
 */
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { createRoute, z } from '@hono/zod-openapi';
import { ErrorCode } from '../../common/errors.ts';
import { UserRole } from '../../common/roles.ts';
import { allow, principalOf } from '../auth/authenticate.ts';
import type { Services } from '../deps.ts';
import { ApiError, forbidden, notFound } from '../errors.ts';
import { bearer, createRouter, problemResponses } from '../router.ts';
import type { AppContext } from '../router.ts';
import type { RunMembers } from '../runs/launcher.ts';
import { BLOB_DIGEST, type BlobBackend } from './blob-backend.ts';
import { S3StoreError } from './s3/s3-error.ts';

const RUN_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const Params = z.object({
  runId: z.string().regex(RUN_ID, { error: 'must be a run id' }).openapi({ param: { name: 'runId', in: 'path' } }),
  digest: z.string().regex(BLOB_DIGEST, { error: 'must be the blob\'s SHA-256, base64url (43 characters)' }).openapi({ param: { name: 'digest', in: 'path' } }),
});
const Stored = z.object({ digest: z.string(), size: z.number(), stored: z.boolean() }).openapi('StoredBlob');

const routes = {
  put: createRoute({
    method: 'put', path: '/{runId}/{digest}', tags: ['blobs'], security: bearer, middleware: [allow({ users: [], sites: true })] as const,
    summary: 'Store a sealed envelope of a run as a blob, named by the SHA-256 of its bytes (the credential of a site taking part in the run); storing it again changes nothing',
    request: { params: Params },
    responses: {
      201: { description: 'Stored.', content: { 'application/json': { schema: Stored } } },
      200: { description: 'Already stored.', content: { 'application/json': { schema: Stored } } },
      ...problemResponses(400, 401, 403, 404, 411, 413),
    },
  }),
  get: createRoute({
    method: 'get', path: '/{runId}/{digest}', tags: ['blobs'], security: bearer,
    middleware: [allow({ users: [UserRole.Auditor, UserRole.Admin], sites: true })] as const,
    summary: 'Read a blob: its bytes, which the reader checks against the digest it asked for',
    request: { params: Params },
    responses: {
      200: { description: 'The blob\'s bytes.', content: { 'application/octet-stream': { schema: z.string().openapi({ format: 'binary' }) } } },
      ...problemResponses(401, 403, 404),
    },
  }),
};

/** The blob routes over the store `blobs`, accepting blobs of at most `maxBlobBytes`. */
export function createBlobsApp(services: Services, blobs: BlobBackend, maxBlobBytes: number) {
  const app = createRouter();
  const membersOf = runMembersCache(services);

  app.openapi(routes.put, async (c) => {
    const { runId, digest } = c.req.valid('param');
    const principal = principalOf(c);
    if (principal.kind !== 'site') throw forbidden('Only a site stores blobs, with its site credential.');
    const declared = c.req.header('content-length');
    if (declared === undefined || !/^[0-9]{1,15}$/.test(declared)) {
      throw new ApiError(ErrorCode.InvalidInput, 'A blob is stored with its length: send Content-Length.', { status: 411 });
    }
    const size = Number(declared);
    if (size > maxBlobBytes) throw tooLarge(size, maxBlobBytes);
    // Only a site of the run stores into it: otherwise any site credential could fill another
    // collaboration's run directory, or plant blobs the run's readers would be shown.
    const members = await membersOf(runId);
    if (members.collaboration !== principal.collaborationId || !members.participants.includes(principal.orgId)) {
      services.logger.warn('blob refused', { runId, org: principal.orgId, reason: 'not-a-participant' });
      throw forbidden(`Site "${principal.orgId}" does not take part in run ${runId} (in this collaboration), so it may not store the run's blobs. A site stores only the messages of runs it is a participant of.`);
    }
    const body = c.req.raw.body ? Readable.fromWeb(c.req.raw.body as WebReadableStream<Uint8Array>) : Readable.from([]);
    const result = await backend(services, runId, () => blobs.put(runId, digest, size, { org: principal.orgId, collaborationId: principal.collaborationId }, body, maxBlobBytes));
    if ('refused' in result) {
      if (result.refused === 'too-large') throw tooLarge(size, maxBlobBytes);
      const why = result.refused === 'digest' ? 'its bytes do not hash to the digest it was sent under' : `it was ${result.size} bytes, not the ${size} its Content-Length said`;
      services.logger.warn('blob refused', { runId, org: principal.orgId, reason: result.refused });
      throw new ApiError(ErrorCode.InvalidInput, `The blob was not stored: ${why}. Send the envelope's exact bytes under their SHA-256 (base64url).`);
    }
    if (result.stored) services.logger.info('blob stored', { runId, org: principal.orgId, size });
    return c.json({ digest, size, stored: result.stored }, result.stored ? 201 : 200);
  });

  app.openapi(routes.get, async (c) => {
    const { runId, digest } = c.req.valid('param');
    const note = await backend(services, runId, () => blobs.note(runId, digest));
    if (note === undefined) throw notFound('blob', digest);
    mayRead(c, note.collaborationId);
    const source = await backend(services, runId, () => blobs.read(runId, digest));
    // A failure once the answer has begun cuts it short (the reader sees a broken transfer); the
    // API's log says why, e.g. a blob changed in the store (blob-s3.ts).
    source.once('error', (err) => services.logger.warn('blob read failed', { runId, digest, error: (err as Error).name, reason: (err as { details?: { reason?: string } }).details?.reason }));
    const stream = Readable.toWeb(source) as unknown as ReadableStream<Uint8Array>;
    return c.body(stream, 200, { 'content-type': 'application/octet-stream', 'content-length': String(note.size) }) as never;
  });

  return app;
}

/**
 * Runs `op` on the backend; a store that fails becomes a plain 503 for the caller, with the
 * store's detail (endpoint, bucket, what to do) in the API's log only: a site need not know it.
 */
async function backend<T>(services: Services, runId: string, op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (err) {
    if (!(err instanceof S3StoreError)) throw err;
    services.logger.error('blob store failed', { runId, failure: err.failure, operation: String(err.details.operation), status: err.status, s3Code: err.s3Code, detail: err.message });
    throw new ApiError(ErrorCode.Unavailable, 'The API\'s blob store did not take the request. Try again later; if it goes on, ask the server admin to check the blob store (the API\'s log says what failed).', { cause: err });
  }
}

/** Runs whose members the cache keeps: enough for every run in flight on a busy server. */
const MEMBERS_CACHED = 1000;

/**
 * The run's collaboration and participants from its workflow (RunLauncher.members), remembered:
 * a run's manifest never changes, and a step stores many blobs. Oldest forgotten first.
 */
function runMembersCache(services: Services): (runId: string) => Promise<RunMembers> {
  const cache = new Map<string, RunMembers>();
  return async (runId) => {
    const kept = cache.get(runId);
    if (kept) return kept;
    const members = await services.runs.members(runId);
    if (cache.size >= MEMBERS_CACHED) cache.delete(cache.keys().next().value!);
    cache.set(runId, members);
    return members;
  };
}

/** Sites read the blobs of their own collaboration only; an auditor or admin any (as with histories). */
function mayRead(c: AppContext, collaborationId: string): void {
  const principal = principalOf(c);
  // A blob of another collaboration looks like no blob at all.
  if (principal.kind === 'site' && principal.collaborationId !== collaborationId) throw notFound('blob', c.req.param('digest') ?? '');
}

function tooLarge(size: number, max: number): ApiError {
  return new ApiError(ErrorCode.PayloadTooLarge, `The blob of ${size} bytes is larger than the ${max} bytes this API stores. Lower the site's step limits, or ask the server admin to raise the API's blob limit.`);
}
