/**
 * /v1/runs: a researcher starts a ring secure sum, or a chain (chains/), in a collaboration their
 * organisation belongs to; the run's id is its workflow's id. Status comes from Temporal (GET with `?wait=N` holds the
 * answer until the run ends or N seconds pass); the result is the envelope the
 * workflow sealed for the requesting organisation, kept once fetched. A run belongs to the
 * requester's organisation: nobody else reads it (they get a 404, as for an unknown id).
 */
import { randomUUID } from 'node:crypto';
import { createRoute, z } from '@hono/zod-openapi';
import { and, desc, eq } from 'drizzle-orm';
import { ChainSpecSchema } from '../../chains/index.ts';
import type { ChainOutput, ChainSpec } from '../../common/chain.ts';
import type { Envelope } from '../../common/envelope.ts';
import { ErrorCode } from '../../common/errors.ts';
import { RunStatus, UserRole, runs } from '../../db/schema.ts';
import type { ChainRunResult, ChainRunSpec, Run, RunSpec } from '../../db/schema.ts';
import { allow, userOf } from '../auth/authenticate.ts';
import { recordAudit } from '../audit/record-audit.ts';
import type { Services } from '../deps.ts';
import { ApiError, notFound } from '../errors.ts';
import { bearer, createRouter, problemResponses } from '../router.ts';
import { OrgIdSchema, TimestampSchema, UuidSchema, iso } from '../schemas.ts';
import { ActivityState } from './activity-progress.ts';
import { runProgress } from './run-progress.ts';
import { sealedChainOutputsOf } from './sealed-chain-outputs.ts';
import { checkChainRunRequest } from './start-chain.ts';
import { checkRunRequest } from './start-run.ts';
import { sealedResultOf } from './sealed-result.ts';
import { DATASET_NAME, IMAGE_DIGEST } from '../../common/ids.ts';

const PROTOCOL = 'secure-sum-ring';
/** The protocol column of a chain run. */
const CHAIN_PROTOCOL = 'chain';
const ImageSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._/:-]{0,254}$/, { error: 'must be an image name such as example/sum or registry:5000/sum:1 (no digest here)' }),
  digest: z.string().regex(IMAGE_DIGEST, { error: 'must be "sha256:" and 64 lowercase hex digits' }),
});

// One body for both kinds of run, told apart by `chain`: a union would report a mistake as
// "matches neither", where this names the field at fault.
const RING_FIELDS = ['protocol', 'modulus', 'dataset', 'image'] as const;
const StartBody = z.strictObject({
  collaborationId: UuidSchema,
  chain: ChainSpecSchema.optional().openapi({ description: 'A chain run: the resolved chain (chains/; `parley run` resolves a chain file into it). Leave out the ring fields.' }),
  protocol: z.literal(PROTOCOL).optional().openapi({ description: 'A ring secure sum (the default without `chain`).' }),
  participants: z.array(OrgIdSchema).min(1, { error: 'must list at least 1 organisation' }).max(100, { error: 'must list at most 100 organisations' })
    .refine((ids) => new Set(ids).size === ids.length, { error: 'must not list an organisation twice' })
    .optional().openapi({ description: 'Who takes part (a ring: in ring order, the first initiates; at least 3). Default: every member with a live site except yours.' }),
  modulus: z.string().regex(/^[1-9][0-9]{2,77}$/, { error: 'must be a decimal integer from 100 to 78 digits, as a string' }).optional().openapi({ description: 'Ring runs: the public modulus.' }),
  dataset: z.string().regex(DATASET_NAME, { error: 'must be a dataset name: letters, digits, . _ -, at most 64 characters' }).optional().openapi({ description: 'Ring runs: the dataset each site counts.' }),
  image: ImageSchema.optional().openapi({ description: 'Ring runs: the secure-sum image.' }),
}).superRefine((body, ctx) => {
  if (body.chain !== undefined) {
    for (const field of RING_FIELDS) {
      if (body[field] !== undefined) ctx.addIssue({ code: 'custom', path: [field], message: 'is for ring runs; a chain says everything in `chain`. Remove it' });
    }
    return;
  }
  for (const field of ['modulus', 'dataset', 'image'] as const) {
    if (body[field] === undefined) ctx.addIssue({ code: 'custom', path: [field], message: 'is required for a ring secure sum (or send `chain` to start a chain)' });
  }
  if (body.participants !== undefined && body.participants.length < 3) ctx.addIssue({ code: 'custom', path: ['participants'], message: 'must list at least 3 organisations' });
}).openapi('StartRun');

const RunSchema = z.object({
  id: z.string(), collaborationId: z.string(), protocol: z.string(),
  requester: z.object({ userId: z.string(), orgId: OrgIdSchema }),
  participants: z.array(OrgIdSchema),
  modulus: z.string().optional(), dataset: z.string().optional(), image: z.object({ name: z.string(), digest: z.string() }).optional(),
  chain: z.record(z.string(), z.unknown()).optional().openapi({ description: 'Chain runs: the chain as started (a ChainSpec).' }),
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
const ProgressQuery = WaitQuery.extend({
  after: z.string().regex(/^[0-9]{1,12}$/, { error: 'must be the cursor of an earlier answer: a whole number' }).transform(Number).optional()
    .openapi({ param: { name: 'after', in: 'query' }, type: 'integer', minimum: 0, description: 'With wait: answer once something happened after this cursor (from an earlier answer).' }),
});
const ProgressSchema = z.object({
  runId: z.string(),
  status: z.enum(Object.values(RunStatus)),
  cursor: z.number().int().openapi({ description: 'Pass as ?after= (with ?wait=) to wait for the next change.' }),
  sites: z.array(z.object({
    step: z.string().openapi({ description: 'The chain step (a ring run: the site\'s step).' }),
    siteStep: z.string().openapi({ description: 'The step id the site runs: a secure sum runs protocol steps under the chain step\'s id.' }),
    org: OrgIdSchema,
    state: z.enum(['pending', ...Object.values(ActivityState)]),
  })),
}).openapi('RunProgress');
const SealedResultSchema = z.object({ runId: z.string(), envelope: z.record(z.string(), z.unknown()) }).openapi('SealedResult');
const ChainResultSchema = z.object({
  runId: z.string(),
  outputs: z.array(z.object({ step: z.string(), boundStep: z.string(), org: OrgIdSchema, envelope: z.record(z.string(), z.unknown()) })),
}).openapi('SealedChainResult');
const json = <T extends z.ZodType>(schema: T, description: string) => ({ description, content: { 'application/json': { schema } } });
const members = allow({ users: 'any' });

const routes = {
  start: createRoute({
    method: 'post', path: '/', tags: ['runs'], security: bearer, middleware: [allow({ users: [UserRole.Researcher] })] as const,
    summary: 'Start a ring secure sum or a chain in a collaboration your organisation belongs to (researcher)',
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
    summary: 'The result, sealed for your organisation (envelopes: only its private key opens them); a chain: every output', request: { params: Params },
    responses: {
      200: json(z.union([SealedResultSchema, ChainResultSchema]), 'The sealed result: a ring run\'s envelope, or a chain run\'s outputs.'),
      ...problemResponses(400, 401, 403, 404, 409, 503),
    },
  }),
  progress: createRoute({
    method: 'get', path: '/{runId}/progress', tags: ['runs'], security: bearer, middleware: [members] as const,
    summary: 'Per step and site: pending, scheduled, running, done, failed; with ?wait=N&after=CURSOR, once that changes or N seconds pass',
    request: { params: Params, query: ProgressQuery },
    responses: { 200: json(ProgressSchema, 'Progress.'), ...problemResponses(400, 401, 403, 404, 503) },
  }),
  cancel: createRoute({
    method: 'post', path: '/{runId}/cancel', tags: ['runs'], security: bearer, middleware: [allow({ users: [UserRole.Researcher] })] as const,
    summary: 'Ask a running run to stop: every site cleans up, and the run ends as cancelled (researcher)', request: { params: Params },
    responses: { 202: json(RunSchema, 'Cancellation requested.'), ...problemResponses(400, 401, 403, 404, 409, 503) },
  }),
};

const isChainSpec = (spec: RunSpec | ChainRunSpec): spec is ChainRunSpec => 'chain' in spec;
const isChainResult = (result: Envelope | ChainRunResult): result is ChainRunResult => 'outputs' in result;

function view(run: Run) {
  return {
    id: run.id, collaborationId: run.collaborationId, protocol: run.protocol,
    requester: { userId: run.requesterId, orgId: run.requesterOrg },
    participants: run.participants,
    ...(isChainSpec(run.spec) ? { chain: { ...run.spec.chain } } : { modulus: run.spec.modulus, dataset: run.spec.dataset, image: run.spec.image }),
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

  const startChain = async (user: ReturnType<typeof userOf>, collaborationId: string, chain: ChainSpec, participants: string[] | undefined): Promise<Run> => {
    const checked = await checkChainRunRequest(db, user, collaborationId, chain, participants);
    const runId = `run-${randomUUID()}`;
    const at = services.now();
    const images = [...new Set(chain.steps.map((s) => s.image.digest))].join(',');
    const run = await db.transaction(async (tx) => {
      const [row] = await tx.insert(runs).values({
        id: runId, collaborationId: checked.collaborationId, requesterId: user.userId, requesterOrg: user.orgId,
        protocol: CHAIN_PROTOCOL, participants: checked.participants, spec: { chain }, status: RunStatus.Running, createdAt: at, updatedAt: at,
      }).returning();
      await recordAudit(tx, { actor: user, action: 'run.start', target: { kind: 'run', id: runId }, at, details: { collaborationId: checked.collaborationId, participants: checked.participants.join(','), chain: chain.name, images } });
      // As for the ring: the workflow starts inside the transaction, so a refusal leaves no row.
      await services.runs.startChain({ runId, chain, participants: checked.participants, requester: checked.requester });
      return row!;
    });
    services.logger.info('run started', { runId, orgId: user.orgId, participants: checked.participants.length, chain: chain.name });
    return run;
  };

  // A chain run's outputs as kept: fetched from the workflow once, checked, stored.
  const chainOutputs = async (user: ReturnType<typeof userOf>, run: Run): Promise<ChainOutput[]> => {
    if (run.result !== null && isChainResult(run.result)) return run.result.outputs;
    const outputs = sealedChainOutputsOf(await services.runs.result(run.id), run.id, run.requesterOrg);
    const at = services.now();
    await db.transaction(async (tx) => {
      await tx.update(runs).set({ result: { outputs }, updatedAt: at }).where(eq(runs.id, run.id));
      await recordAudit(tx, { actor: user, action: 'run.result-store', target: { kind: 'run', id: run.id }, at, details: { outputs: outputs.length } });
    });
    return outputs;
  };

  return createRouter()
    .openapi(routes.start, async (c) => {
      const user = userOf(c);
      const body = c.req.valid('json');
      if (body.chain !== undefined) return c.json(view(await startChain(user, body.collaborationId, body.chain, body.participants)), 201);
      const checked = await checkRunRequest(db, user, body.collaborationId, body.participants);
      const runId = `run-${randomUUID()}`;
      // The schema's refinement made these present for a ring run.
      const spec = { modulus: body.modulus!, dataset: body.dataset!, image: { name: body.image!.name, digest: body.image!.digest } };
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
      if (run.result !== null && !isChainResult(run.result)) return c.json({ runId: run.id, envelope: { ...run.result } }, 200);
      if (run.result === null && run.status !== RunStatus.Completed) {
        throw new ApiError(ErrorCode.Conflict, `Run ${run.id} is ${run.status}; a result exists only once it has completed.${run.status === RunStatus.Running ? ' Poll GET /v1/runs/{runId} and fetch the result when it says completed.' : ' Start a new run.'}`);
      }
      if (run.protocol === CHAIN_PROTOCOL) {
        const outputs = await chainOutputs(user, run);
        return c.json({ runId: run.id, outputs: outputs.map((o) => ({ ...o, envelope: { ...o.envelope } })) }, 200);
      }
      const envelope = sealedResultOf(await services.runs.result(run.id), run.id, run.requesterOrg);
      const at = services.now();
      await db.transaction(async (tx) => {
        await tx.update(runs).set({ result: envelope, updatedAt: at }).where(eq(runs.id, run.id));
        await recordAudit(tx, { actor: user, action: 'run.result-store', target: { kind: 'run', id: run.id }, at, details: { recipients: envelope.binding.to.join(',') } });
      });
      return c.json({ runId: run.id, envelope: { ...envelope } }, 200);
    })
    .openapi(routes.progress, async (c) => {
      const { orgId } = userOf(c);
      const { runId } = c.req.valid('param');
      const { wait = 0, after } = c.req.valid('query');
      const run = await load(orgId, runId);
      const progress = await services.runs.progress(run.id, { ...(after === undefined ? {} : { afterEventId: after }), waitMs: wait * 1000, signal: c.req.raw.signal });
      const current = progress.closed ? await refresh(await load(orgId, runId)) : run;
      return c.json({ runId: run.id, status: current.status, cursor: progress.lastEventId, sites: runProgress(isChainSpec(run.spec) ? run.spec.chain : undefined, run.participants, progress.activities) }, 200);
    })
    .openapi(routes.cancel, async (c) => {
      const user = userOf(c);
      const run = await refresh(await load(user.orgId, c.req.valid('param').runId));
      if (run.status !== RunStatus.Running) {
        throw new ApiError(ErrorCode.Conflict, `Run ${run.id} is already ${run.status}; only a running run can be cancelled.`);
      }
      await services.runs.cancel(run.id);
      await recordAudit(db, { actor: user, action: 'run.cancel', target: { kind: 'run', id: run.id }, at: services.now(), details: {} });
      services.logger.info('run cancel requested', { runId: run.id, orgId: user.orgId });
      return c.json(view(run), 202);
    });
}
