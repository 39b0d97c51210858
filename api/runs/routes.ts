/**
 * /v1/runs: a researcher starts a secure sum in a collaboration their organisation belongs to;
 * the run's id is its workflow's id. Status comes from Temporal (GET with `?wait=N` holds the
 * answer until the run ends or N seconds pass); the result is the envelope the
 * workflow sealed for the requesting organisation, kept once fetched. A run belongs to the
 * requester's organisation: nobody else reads it (they get a 404, as for an unknown id).
 */
import { randomUUID } from 'node:crypto';
import { createRoute, z } from '@hono/zod-openapi';
import { and, desc, eq } from 'drizzle-orm';
import { ErrorCode } from '../../common/errors.ts';
import { RunStatus, UserRole, runs } from '../../db/schema.ts';
import type { Run } from '../../db/schema.ts';
import { allow, userOf } from '../auth/authenticate.ts';
import { recordAudit } from '../audit/record-audit.ts';
import type { Services } from '../deps.ts';
import { ApiError, notFound } from '../errors.ts';
import { bearer, createRouter, problemResponses } from '../router.ts';
import { OrgIdSchema, TimestampSchema, UuidSchema, iso } from '../schemas.ts';
import { checkRunRequest } from './start-run.ts';
import { sealedResultOf } from './sealed-result.ts';

const PROTOCOL = 'secure-sum-ring';
const ImageSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._/:-]{0,254}$/, { error: 'must be an image name such as example/sum or registry:5000/sum:1 (no digest here)' }),
  digest: z.string().regex(/^sha256:[0-9a-f]{64}$/, { error: 'must be "sha256:" and 64 lowercase hex digits' }),
});

const StartBody = z.strictObject({
  collaborationId: UuidSchema,
  protocol: z.literal(PROTOCOL).optional().openapi({ description: 'Only secure-sum-ring so far.' }),
  participants: z.array(OrgIdSchema).min(3, { error: 'must list at least 3 organisations' }).max(100, { error: 'must list at most 100 organisations' })
    .refine((ids) => new Set(ids).size === ids.length, { error: 'must not list an organisation twice' })
    .optional().openapi({ description: 'Ring order, the first initiates. Default: every member with a live site except yours.' }),
  modulus: z.string().regex(/^[1-9][0-9]{2,77}$/, { error: 'must be a decimal integer from 100 to 78 digits, as a string' }),
  dataset: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, { error: 'must be a dataset name: letters, digits, . _ -, at most 64 characters' }),
  image: ImageSchema,
}).openapi('StartRun');

const RunSchema = z.object({
  id: z.string(), collaborationId: z.string(), protocol: z.string(),
  requester: z.object({ userId: z.string(), orgId: OrgIdSchema }),
  participants: z.array(OrgIdSchema), modulus: z.string(), dataset: z.string(),
  image: z.object({ name: z.string(), digest: z.string() }),
  status: z.enum(Object.values(RunStatus)), hasResult: z.boolean(),
  createdAt: TimestampSchema, updatedAt: TimestampSchema,
}).openapi('Run');

const Params = z.object({
  runId: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, { error: 'must be a run id as returned when the run started' })
    .openapi({ param: { name: 'runId', in: 'path' } }),
});
// Bounded so a request never outlives proxies' idle timeouts (commonly 60 s or more).
const MAX_WAIT_SECONDS = 60;
const WaitQuery = z.strictObject({
  wait: z.string()
    .regex(/^[0-9]{1,2}$/, { error: `must be a whole number of seconds from 0 to ${MAX_WAIT_SECONDS}` })
    .transform(Number)
    .refine((n) => n <= MAX_WAIT_SECONDS, { error: `must be at most ${MAX_WAIT_SECONDS} seconds` })
    .optional()
    .openapi({
      param: { name: 'wait', in: 'query' }, type: 'integer', minimum: 0, maximum: MAX_WAIT_SECONDS,
      description: 'While the run is running, wait up to this many seconds for it to end before answering. Default 0: answer at once.',
    }),
});
const json = <T extends z.ZodType>(schema: T, description: string) => ({ description, content: { 'application/json': { schema } } });
const members = allow({ users: 'any' });

const routes = {
  start: createRoute({
    method: 'post', path: '/', tags: ['runs'], security: bearer, middleware: [allow({ users: [UserRole.Researcher] })] as const,
    summary: 'Start a secure sum in a collaboration your organisation belongs to (researcher)',
    request: { body: { required: true, content: { 'application/json': { schema: StartBody } } } },
    responses: { 201: json(RunSchema, 'Started.'), ...problemResponses(400, 401, 403, 404, 409, 413, 415, 503) },
  }),
  list: createRoute({
    method: 'get', path: '/', tags: ['runs'], security: bearer, middleware: [members] as const,
    summary: 'Your organisation\'s runs, newest first',
    responses: { 200: json(z.object({ runs: z.array(RunSchema) }), 'Runs.'), ...problemResponses(401, 403) },
  }),
  get: createRoute({
    method: 'get', path: '/{runId}', tags: ['runs'], security: bearer, middleware: [members] as const,
    summary: 'A run and its current status; with ?wait=N, once it ends or N seconds pass', request: { params: Params, query: WaitQuery },
    responses: { 200: json(RunSchema, 'The run.'), ...problemResponses(400, 401, 403, 404) },
  }),
  result: createRoute({
    method: 'get', path: '/{runId}/result', tags: ['runs'], security: bearer, middleware: [members] as const,
    summary: 'The total, sealed for your organisation (an envelope: only its private key opens it)', request: { params: Params },
    responses: {
      200: json(z.object({ runId: z.string(), envelope: z.record(z.string(), z.unknown()) }).openapi('SealedResult'), 'The sealed result.'),
      ...problemResponses(400, 401, 403, 404, 409, 503),
    },
  }),
};

function view(run: Run) {
  return {
    id: run.id, collaborationId: run.collaborationId, protocol: run.protocol,
    requester: { userId: run.requesterId, orgId: run.requesterOrg },
    participants: run.participants, modulus: run.spec.modulus, dataset: run.spec.dataset, image: run.spec.image,
    status: run.status, hasResult: run.result !== null, createdAt: iso(run.createdAt), updatedAt: iso(run.updatedAt),
  };
}

/** The runs sub-app, mounted at /v1/runs. */
export function createRunsApp(services: Services) {
  const { db } = services;

  const load = async (orgId: string, runId: string): Promise<Run> => {
    const [run] = await db.select().from(runs).where(and(eq(runs.id, runId), eq(runs.requesterOrg, orgId))).limit(1);
    if (run === undefined) throw notFound('run', runId);
    return run;
  };

  // Asks Temporal while the run is running; records a change of status (and its audit event).
  const refresh = async (run: Run): Promise<Run> => {
    if (run.status !== RunStatus.Running) return run;
    let status: RunStatus;
    try {
      status = await services.runs.status(run.id);
    } catch (err) {
      services.logger.warn('run status unavailable; serving the last known', { runId: run.id, error: err instanceof ApiError ? err.code : 'unknown' });
      return run;
    }
    if (status === run.status) return run;
    const at = services.now();
    return db.transaction(async (tx) => {
      const [row] = await tx.update(runs).set({ status, updatedAt: at }).where(eq(runs.id, run.id)).returning();
      await recordAudit(tx, { actor: 'system', action: 'run.status', target: { kind: 'run', id: run.id }, at, details: { from: run.status, to: status } });
      return row!;
    });
  };

  return createRouter()
    .openapi(routes.start, async (c) => {
      const user = userOf(c);
      const body = c.req.valid('json');
      const checked = await checkRunRequest(db, user, body.collaborationId, body.participants);
      const runId = `run-${randomUUID()}`;
      const spec = { modulus: body.modulus, dataset: body.dataset, image: { name: body.image.name, digest: body.image.digest } };
      const at = services.now();
      // The workflow starts inside the transaction: if Temporal refuses, no run row is left behind.
      const run = await db.transaction(async (tx) => {
        const [row] = await tx.insert(runs).values({
          id: runId, collaborationId: checked.collaborationId, requesterId: user.userId, requesterOrg: user.orgId,
          protocol: PROTOCOL, participants: checked.participants, spec, status: RunStatus.Running, createdAt: at, updatedAt: at,
        }).returning();
        await recordAudit(tx, { actor: user, action: 'run.start', target: { kind: 'run', id: runId }, at, details: { collaborationId: checked.collaborationId, participants: checked.participants.join(','), image: spec.image.digest } });
        await services.runs.startRing({ runId, participants: checked.participants, requester: checked.requester, ...spec });
        return row!;
      });
      services.logger.info('run started', { runId, orgId: user.orgId, participants: checked.participants.length });
      return c.json(view(run), 201);
    })
    .openapi(routes.list, async (c) => {
      const user = userOf(c);
      const rows = await db.select().from(runs).where(eq(runs.requesterOrg, user.orgId)).orderBy(desc(runs.createdAt)).limit(200);
      return c.json({ runs: rows.map(view) }, 200);
    })
    .openapi(routes.get, async (c) => {
      const { orgId } = userOf(c);
      const { runId } = c.req.valid('param');
      const { wait = 0 } = c.req.valid('query');
      let run = await refresh(await load(orgId, runId));
      if (run.status === RunStatus.Running && wait > 0) {
        await services.runs.waitForClose(run.id, wait * 1000, c.req.raw.signal);
        // Loaded again: another request may have recorded the new status meanwhile.
        run = await refresh(await load(orgId, runId));
      }
      return c.json(view(run), 200);
    })
    .openapi(routes.result, async (c) => {
      const user = userOf(c);
      const run = await refresh(await load(user.orgId, c.req.valid('param').runId));
      if (run.result !== null) return c.json({ runId: run.id, envelope: { ...run.result } }, 200);
      if (run.status !== RunStatus.Completed) {
        throw new ApiError(ErrorCode.Conflict, `Run ${run.id} is ${run.status}; a result exists only once it has completed.${run.status === RunStatus.Running ? ' Poll GET /v1/runs/{runId} and fetch the result when it says completed.' : ' Start a new run.'}`);
      }
      const envelope = sealedResultOf(await services.runs.result(run.id), run.id, run.requesterOrg);
      const at = services.now();
      await db.transaction(async (tx) => {
        await tx.update(runs).set({ result: envelope, updatedAt: at }).where(eq(runs.id, run.id));
        await recordAudit(tx, { actor: user, action: 'run.result-store', target: { kind: 'run', id: run.id }, at, details: { recipients: envelope.binding.to.join(',') } });
      });
      return c.json({ runId: run.id, envelope: { ...envelope } }, 200);
    });
}
