/**
 * /v1/runs: a researcher starts a ring secure sum, or a chain (chains/), in a collaboration their
 * organisation belongs to; the run's id is its workflow's id. Status comes from Temporal (GET with `?wait=N` holds the
 * answer until the run ends or N seconds pass); the result is the envelope the
 * workflow sealed for the requesting organisation, kept once fetched. A run belongs to the
 * requester's organisation: nobody else reads it (they get a 404, as for an unknown id).
 * The schemas are in ./schemas.ts, the database access in ./run-store.ts.
 */
import { createRoute, z } from '@hono/zod-openapi';
import type { ChainOutput, ChainSpec } from '../../common/chain.ts';
import type { Envelope } from '../../common/envelope.ts';
import { ErrorCode } from '../../common/errors.ts';
import { UserRole } from '../../common/roles.ts';
import { RunStatus } from '../../common/run-status.ts';
import type { ChainRunResult, ChainRunSpec, Run, RunSpec } from '../../db/schema.ts';
import { allow, userOf } from '../auth/authenticate.ts';
import type { Services } from '../deps.ts';
import { ApiError } from '../errors.ts';
import type { UserPrincipal } from '../router.ts';
import { bearer, createRouter, problemResponses } from '../router.ts';
import { iso } from '../schemas.ts';
import { runProgress } from './run-progress.ts';
import { createRunStore } from './run-store.ts';
import {
  CHAIN_PROTOCOL, ChainResultSchema, ParticipantsBody, ParticipantsSchema, ProgressQuery, ProgressSchema, RING_PROTOCOL, RunParams, RunSchema, SealedResultSchema, StartBody, WaitQuery,
} from './schemas.ts';
import { sealedChainOutputsOf } from './sealed-chain-outputs.ts';
import { checkChainRunRequest } from './start-chain.ts';
import { checkRunRequest } from './start-run.ts';
import { sealedResultOf } from './sealed-result.ts';
import { checkManifest, manifestClaims } from './check-manifest.ts';

const json = <T extends z.ZodType>(schema: T, description: string) => ({ description, content: { 'application/json': { schema } } });
const members = allow({ users: 'any' });
const researchers = allow({ users: [UserRole.Researcher] });

const routes = {
  start: createRoute({
    method: 'post', path: '/', tags: ['runs'], security: bearer, middleware: [researchers] as const,
    summary: 'Start a ring secure sum or a chain in a collaboration your organisation belongs to (researcher)',
    request: { body: { required: true, content: { 'application/json': { schema: StartBody } } } },
    responses: { 201: json(RunSchema, 'Started.'), ...problemResponses(400, 401, 403, 404, 409, 413, 415, 503) },
  }),
  participants: createRoute({
    method: 'post', path: '/participants', tags: ['runs'], security: bearer, middleware: [researchers] as const,
    summary: 'Who would take part in a run started now: every member with a live site and keys but yours (researcher). The client signs them into the run\'s manifest',
    request: { body: { required: true, content: { 'application/json': { schema: ParticipantsBody } } } },
    responses: { 200: json(ParticipantsSchema, 'The participants.'), ...problemResponses(400, 401, 403, 404, 409, 415) },
  }),
  list: createRoute({
    method: 'get', path: '/', tags: ['runs'], security: bearer, middleware: [members] as const,
    summary: 'Your organisation\'s runs, newest first',
    responses: { 200: json(z.object({ runs: z.array(RunSchema) }), 'Runs.'), ...problemResponses(401, 403) },
  }),
  get: createRoute({
    method: 'get', path: '/{runId}', tags: ['runs'], security: bearer, middleware: [members] as const,
    summary: 'A run and its current status; with ?wait=N, once it ends or N seconds pass', request: { params: RunParams, query: WaitQuery },
    responses: { 200: json(RunSchema, 'The run.'), ...problemResponses(400, 401, 403, 404) },
  }),
  result: createRoute({
    method: 'get', path: '/{runId}/result', tags: ['runs'], security: bearer, middleware: [members] as const,
    summary: 'The result, sealed for your organisation (envelopes: only its private key opens them); a chain: every output', request: { params: RunParams },
    responses: {
      200: json(z.union([SealedResultSchema, ChainResultSchema]), 'The sealed result: a ring run\'s envelope, or a chain run\'s outputs.'),
      ...problemResponses(400, 401, 403, 404, 409, 503),
    },
  }),
  progress: createRoute({
    method: 'get', path: '/{runId}/progress', tags: ['runs'], security: bearer, middleware: [members] as const,
    summary: 'Per step and site: pending, scheduled, running, done, failed; with ?wait=N&after=CURSOR, once that changes or N seconds pass',
    request: { params: RunParams, query: ProgressQuery },
    responses: { 200: json(ProgressSchema, 'Progress.'), ...problemResponses(400, 401, 403, 404, 503) },
  }),
  cancel: createRoute({
    method: 'post', path: '/{runId}/cancel', tags: ['runs'], security: bearer, middleware: [researchers] as const,
    summary: 'Ask a running run to stop: every site cleans up, and the run ends as cancelled (researcher)', request: { params: RunParams },
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
/** The run's site-down tolerance when the request gives one (the workflow's default otherwise). */
type SiteDownTolerance = { siteDownToleranceMs?: number };
const toleranceOf = (body: { siteDownToleranceMs?: number | undefined }): SiteDownTolerance =>
  (body.siteDownToleranceMs === undefined ? {} : { siteDownToleranceMs: body.siteDownToleranceMs });

export function createRunsApp(services: Services) {
  const { db } = services;
  const store = createRunStore(db);

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
    return store.recordStatus(run, status, services.now());
  };

  const startChain = async (user: UserPrincipal, collaborationId: string, chain: ChainSpec, participants: string[] | undefined, signed: string, tolerance: SiteDownTolerance): Promise<Run> => {
    const checked = await checkChainRunRequest(db, user, collaborationId, chain, participants ?? manifestClaims(signed).participants);
    const manifest = await checkManifest(db, signed, { ...checked, plan: { kind: 'chain', chain } }, services.now());
    const runId = manifest.runId;
    const images = [...new Set(chain.steps.map((s) => s.image.digest))].join(',');
    const run = await store.insertStarted({
      id: runId, collaborationId: checked.collaborationId, requester: user, protocol: CHAIN_PROTOCOL,
      participants: checked.participants, spec: { chain }, at: services.now(),
      auditDetails: { collaborationId: checked.collaborationId, participants: checked.participants.join(','), chain: chain.name, images },
    }, () => services.runs.startChain({ runId, chain, participants: checked.participants, requester: checked.requester, manifest: signed, ...tolerance }));
    services.logger.info('run started', { runId, orgId: user.orgId, participants: checked.participants.length, chain: chain.name });
    return run;
  };

  const startRing = async (user: UserPrincipal, body: z.infer<typeof StartBody>): Promise<Run> => {
    const checked = await checkRunRequest(db, user, body.collaborationId, body.participants ?? manifestClaims(body.manifest).participants);
    // The schema's refinement made these present for a ring run.
    const spec = { modulus: body.modulus!, dataset: body.dataset!, image: { name: body.image!.name, digest: body.image!.digest } };
    const manifest = await checkManifest(db, body.manifest, { ...checked, plan: { kind: 'secure-sum', ...spec } }, services.now());
    const runId = manifest.runId;
    const run = await store.insertStarted({
      id: runId, collaborationId: checked.collaborationId, requester: user, protocol: RING_PROTOCOL,
      participants: checked.participants, spec, at: services.now(),
      auditDetails: { collaborationId: checked.collaborationId, participants: checked.participants.join(','), image: spec.image.digest },
    }, () => services.runs.startRing({ runId, participants: checked.participants, requester: checked.requester, ...spec, manifest: body.manifest, ...toleranceOf(body) }));
    services.logger.info('run started', { runId, orgId: user.orgId, participants: checked.participants.length });
    return run;
  };

  // A chain run's outputs as kept: fetched from the workflow once, checked, stored.
  const chainOutputs = async (user: UserPrincipal, run: Run): Promise<ChainOutput[]> => {
    if (run.result !== null && isChainResult(run.result)) return run.result.outputs;
    const outputs = sealedChainOutputsOf(await services.runs.result(run.id), run.id, run.requesterOrg);
    await store.storeResult(run, { outputs }, user, services.now(), { outputs: outputs.length });
    return outputs;
  };

  return createRouter()
    .openapi(routes.start, async (c) => {
      const user = userOf(c);
      const body = c.req.valid('json');
      const run = body.chain !== undefined
        ? await startChain(user, body.collaborationId, body.chain, body.participants, body.manifest, toleranceOf(body))
        : await startRing(user, body);
      return c.json(view(run), 201);
    })
    .openapi(routes.participants, async (c) => {
      const user = userOf(c);
      const body = c.req.valid('json');
      const checked = body.chain !== undefined
        ? await checkChainRunRequest(db, user, body.collaborationId, body.chain, undefined)
        : await checkRunRequest(db, user, body.collaborationId, undefined);
      return c.json(checked, 200);
    })
    .openapi(routes.list, async (c) => {
      const user = userOf(c);
      const rows = await store.listForOrg(user.orgId);
      return c.json({ runs: rows.map(view) }, 200);
    })
    .openapi(routes.get, async (c) => {
      const { orgId } = userOf(c);
      const { runId } = c.req.valid('param');
      const { wait = 0 } = c.req.valid('query');
      let run = await refresh(await store.load(orgId, runId));
      if (run.status === RunStatus.Running && wait > 0) {
        await services.runs.waitForClose(run.id, wait * 1000, c.req.raw.signal);
        // Loaded again: another request may have recorded the new status meanwhile.
        run = await refresh(await store.load(orgId, runId));
      }
      return c.json(view(run), 200);
    })
    .openapi(routes.result, async (c) => {
      const user = userOf(c);
      const run = await refresh(await store.load(user.orgId, c.req.valid('param').runId));
      if (run.result !== null && !isChainResult(run.result)) return c.json({ runId: run.id, envelope: { ...run.result } }, 200);
      if (run.result === null && run.status !== RunStatus.Completed) {
        throw new ApiError(ErrorCode.Conflict, `Run ${run.id} is ${run.status}; a result exists only once it has completed.${run.status === RunStatus.Running ? ' Poll GET /v1/runs/{runId} and fetch the result when it says completed.' : ' Start a new run.'}`);
      }
      if (run.protocol === CHAIN_PROTOCOL) {
        const outputs = await chainOutputs(user, run);
        return c.json({ runId: run.id, outputs: outputs.map((o) => ({ ...o, envelope: { ...o.envelope } })) }, 200);
      }
      const envelope = sealedResultOf(await services.runs.result(run.id), run.id, run.requesterOrg);
      await store.storeResult(run, envelope, user, services.now(), { recipients: envelope.binding.to.join(',') });
      return c.json({ runId: run.id, envelope: { ...envelope } }, 200);
    })
    .openapi(routes.progress, async (c) => {
      const { orgId } = userOf(c);
      const { runId } = c.req.valid('param');
      const { wait = 0, after } = c.req.valid('query');
      const run = await store.load(orgId, runId);
      const progress = await services.runs.progress(run.id, { ...(after === undefined ? {} : { afterEventId: after }), waitMs: wait * 1000, signal: c.req.raw.signal });
      const current = progress.closed ? await refresh(await store.load(orgId, runId)) : run;
      return c.json({ runId: run.id, status: current.status, cursor: progress.lastEventId, sites: runProgress(isChainSpec(run.spec) ? run.spec.chain : undefined, run.participants, progress.activities) }, 200);
    })
    .openapi(routes.cancel, async (c) => {
      const user = userOf(c);
      const run = await refresh(await store.load(user.orgId, c.req.valid('param').runId));
      if (run.status !== RunStatus.Running) {
        throw new ApiError(ErrorCode.Conflict, `Run ${run.id} is already ${run.status}; only a running run can be cancelled.`);
      }
      await services.runs.cancel(run.id);
      await store.recordCancel(run, user, services.now());
      services.logger.info('run cancel requested', { runId: run.id, orgId: user.orgId });
      return c.json(view(run), 202);
    });
}
