/**
 * Runs, against a real Temporal dev server: a researcher starts the ring workflow, follows its
 * status and fetches the total sealed for their organisation. The coordinator's place is taken by
 * a real worker running a stand-in workflow (testing/stub-ring-workflow.ts) that finishes when
 * told, so no Docker or site is needed.
 */
import { randomBytes } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../common/errors.ts';
import { createMemoryReplayGuard, openEnvelope, sealEnvelope } from '../../crypto/index.ts';
import { UserRole } from '../../common/roles.ts';
import { sites } from '../../db/schema.ts';
import type { Federation } from '../testing/fixtures.ts';
import { createFederation, createOrg, createUser, withSignedManifest } from '../testing/fixtures.ts';
import type { Harness } from '../testing/harness.ts';
import { startStubCoordinator, type StubCoordinator } from '../testing/stub-coordinator.ts';
import { call, expectProblem } from '../testing/http.ts';
import type { Answer } from '../testing/http.ts';
import { createTemporalRunLauncher } from './launcher.ts';

const IMAGE = { name: 'example/secure-sum', digest: `sha256:${'ab'.repeat(32)}` };
const BASE = { modulus: '1000000007', dataset: 'patients', image: IMAGE };

async function start(h: Harness, fed: Federation, body: Record<string, unknown> = {}, token = fed.researcher.token): Promise<Answer> {
  return call(h.app, 'POST', '/v1/runs', { token, body: await withSignedManifest(fed, { collaborationId: fed.collaboration.id, ...BASE, ...body }) });
}

async function waitForStatus(h: Harness, token: string, runId: string, status: string): Promise<Answer> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const res = await call(h.app, 'GET', `/v1/runs/${runId}`, { token });
    if (res.body?.status === status || Date.now() > deadline) return res;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The total, sealed by the initiator for the requesting organisation, as the real ring does. */
function sealTotal(fed: Federation, runId: string, total: string) {
  return sealEnvelope({
    binding: { runId, step: 'ring.3.finish', from: fed.sites[0]!.id, to: [fed.lab.id], seq: 1 },
    body: new TextEncoder().encode(total),
    sender: fed.sites[0]!.keys,
    recipients: [{ org: fed.lab.id, receiveJwk: fed.lab.keys.receive.publicJwk }],
  });
}

export function runsSuite(h: () => Harness): void {
  describe('/v1/runs', () => {
    let coordinator: StubCoordinator | undefined;

    beforeAll(async () => {
      coordinator = await startStubCoordinator(h(), './stub-ring-workflow.ts');
    });

    afterAll(async () => {
      await coordinator?.stop();
    });

    const finish = (runId: string, outcome: { result?: unknown; failure?: string }) =>
      h().temporal.client.workflow.getHandle(runId).signal('finish', outcome);
    const endRun = (runId: string) => h().temporal.client.workflow.getHandle(runId).terminate('test over');

    it('starts the ring workflow on parley.coordinator, the run id as workflow id', async () => {
      const fed = await createFederation(h());
      const res = await start(h(), fed);
      expect(res.status).toBe(201);
      const participants = fed.sites.map((s) => s.id).sort();
      expect(res.body).toMatchObject({ protocol: 'secure-sum-ring', participants, requester: { orgId: fed.lab.id, userId: fed.researcher.id }, status: 'running', hasResult: false, ...BASE });
      const handle = h().temporal.client.workflow.getHandle(res.body.id);
      const description = await handle.describe();
      expect({ type: description.type, taskQueue: description.taskQueue, status: description.status.name }).toEqual({ type: 'secureSumRingWorkflow', taskQueue: 'parley.coordinator', status: 'RUNNING' });
      const history = await handle.fetchHistory();
      const input = history.events![0]!.workflowExecutionStartedEventAttributes!.input!.payloads![0]!;
      expect(defaultPayloadConverter.fromPayload(input)).toEqual({ runId: res.body.id, participants, requester: fed.lab.id, ...BASE, manifest: expect.stringMatching(/^[\w-]+\.[\w-]+\.[\w-]+$/) });
      const audit = await call(h().app, 'GET', `/v1/audit?targetId=${res.body.id}`, { token: h().adminToken });
      expect(audit.body.events).toMatchObject([{ action: 'run.start', actor: { kind: 'user', id: fed.researcher.id } }]);
      await endRun(res.body.id);
    });

    it('serves the status and, once completed, the total sealed for the requester — and keeps it', async () => {
      const fed = await createFederation(h());
      const { body: run } = await start(h(), fed, { participants: [fed.sites[2]!.id, fed.sites[0]!.id, fed.sites[1]!.id] });
      expect(run.participants[0]).toBe(fed.sites[2]!.id);
      expect((await call(h().app, 'GET', `/v1/runs/${run.id}`, { token: fed.researcher.token })).body.status).toBe('running');
      const envelope = await sealTotal(fed, run.id, '4242');
      await finish(run.id, { result: envelope });
      expect((await waitForStatus(h(), fed.researcher.token, run.id, 'completed')).body.status).toBe('completed');
      const result = await call(h().app, 'GET', `/v1/runs/${run.id}/result`, { token: fed.researcher.token });
      expect(result.status).toBe(200);
      expect(result.body).toEqual({ runId: run.id, envelope });
      const opened = await openEnvelope(result.body.envelope, {
        expect: { runId: run.id, step: 'ring.3.finish', recipient: fed.lab.id },
        receiveKey: fed.lab.keys.receive.privateJwk,
        senderSigningKey: async (org) => (org === fed.sites[0]!.id ? fed.sites[0]!.keys.sign.publicJwk : undefined),
        replayGuard: createMemoryReplayGuard(),
      });
      expect(new TextDecoder().decode(opened.body)).toBe('4242');
      const again = await call(h().app, 'GET', `/v1/runs/${run.id}`, { token: fed.researcher.token });
      expect(again.body.hasResult).toBe(true);
      const stored = await h().database.db.query.runs.findFirst({ where: (r, { eq }) => eq(r.id, run.id) });
      expect(stored?.result).toEqual(envelope);
      const audit = await call(h().app, 'GET', `/v1/audit?targetId=${run.id}`, { token: h().adminToken });
      expect(audit.body.events.map((e: { action: string }) => e.action)).toEqual(['run.start', 'run.status', 'run.result-store']);
    });

    it('holds GET /v1/runs/{runId}?wait=N until the run ends, and answers at once without it', async () => {
      const fed = await createFederation(h());
      const { body: run } = await start(h(), fed);
      const get = (query: string) => call(h().app, 'GET', `/v1/runs/${run.id}${query}`, { token: fed.researcher.token });
      for (const query of ['', '?wait=0']) {
        const began = Date.now();
        expect((await get(query)).body.status).toBe('running');
        expect(Date.now() - began).toBeLessThan(1500);
      }
      const bounded = Date.now();
      expect((await get('?wait=1')).body.status).toBe('running');
      expect(Date.now() - bounded).toBeGreaterThanOrEqual(900);

      let answered = false;
      const began = Date.now();
      const waiting = get('?wait=30').finally(() => (answered = true));
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(answered).toBe(false);
      await finish(run.id, { result: await sealTotal(fed, run.id, '7') });
      const res = await waiting;
      expect(res.status).toBe(200);
      expect(res.body.status).toBe('completed');
      expect(Date.now() - began).toBeLessThan(10_000);
    });

    it('refuses a wait that is not 0 to 60 whole seconds with a 400 naming wait', async () => {
      const fed = await createFederation(h());
      for (const wait of ['61', '-1', '1.5', 'abc', '', '1e1']) {
        const res = await call(h().app, 'GET', `/v1/runs/run-unknown?wait=${wait}`, { token: fed.researcher.token });
        expectProblem(res, 400, ErrorCode.InvalidInput);
        expect(res.body.errors).toEqual([expect.objectContaining({ in: 'query', field: 'wait' })]);
      }
    });

    it('reports a failed run, whose result is a 409', async () => {
      const fed = await createFederation(h());
      const { body: run } = await start(h(), fed);
      await finish(run.id, { failure: 'step failed' });
      expect((await waitForStatus(h(), fed.researcher.token, run.id, 'failed')).body.status).toBe('failed');
      expectProblem(await call(h().app, 'GET', `/v1/runs/${run.id}/result`, { token: fed.researcher.token }), 409, ErrorCode.Conflict);
    });

    it('answers 409 for the result of a run still running, saying to poll', async () => {
      const fed = await createFederation(h());
      const { body: run } = await start(h(), fed);
      const res = await call(h().app, 'GET', `/v1/runs/${run.id}/result`, { token: fed.researcher.token });
      expectProblem(res, 409, ErrorCode.Conflict);
      expect(res.body.detail).toMatch(/running.*Poll/);
      await endRun(run.id);
    });

    it('never stores a workflow result that is not an envelope sealed for the requester', async () => {
      const fed = await createFederation(h());
      for (const result of [{ total: 4242 }, await sealTotal(fed, 'run-some-other', '1')]) {
        const { body: run } = await start(h(), fed);
        await finish(run.id, { result });
        await waitForStatus(h(), fed.researcher.token, run.id, 'completed');
        const res = await call(h().app, 'GET', `/v1/runs/${run.id}/result`, { token: fed.researcher.token });
        expect(res.status).toBe(500);
        expect(res.text).not.toContain('4242');
        const stored = await h().database.db.query.runs.findFirst({ where: (r, { eq }) => eq(r.id, run.id) });
        expect(stored?.result).toBeNull();
      }
    });

    it('keeps a run to the requesting organisation: others get 404, as for an unknown id', async () => {
      const fed = await createFederation(h());
      const { body: run } = await start(h(), fed);
      const colleague = await createUser(h(), fed.lab.id, UserRole.Auditor);
      expect((await call(h().app, 'GET', `/v1/runs/${run.id}`, { token: colleague.token })).status).toBe(200);
      const otherResearcher = await createUser(h(), fed.sites[0]!.id, UserRole.Researcher);
      for (const token of [otherResearcher.token, fed.operators[0]!.token, h().adminToken]) {
        expectProblem(await call(h().app, 'GET', `/v1/runs/${run.id}`, { token }), 404, ErrorCode.NotFound);
        expectProblem(await call(h().app, 'GET', `/v1/runs/${run.id}/result`, { token }), 404, ErrorCode.NotFound);
        const list = await call(h().app, 'GET', '/v1/runs', { token });
        expect(list.body.runs.map((r: { id: string }) => r.id)).not.toContain(run.id);
      }
      const mine = await call(h().app, 'GET', '/v1/runs', { token: fed.researcher.token });
      expect(mine.body.runs.map((r: { id: string }) => r.id)).toEqual([run.id]);
      await endRun(run.id);
    });

    it('lets only researchers start runs, and only in their own collaborations', async () => {
      const fed = await createFederation(h());
      const auditor = await createUser(h(), fed.lab.id, UserRole.Auditor);
      for (const token of [fed.operators[0]!.token, auditor.token, h().adminToken, fed.credentials[0]!]) {
        expectProblem(await start(h(), fed, {}, token), 403, ErrorCode.Forbidden);
      }
      const outsider = await createOrg(h());
      const stranger = await createUser(h(), outsider.id, UserRole.Researcher);
      expectProblem(await start(h(), fed, {}, stranger.token), 404, ErrorCode.NotFound);
      expectProblem(await start(h(), fed, { collaborationId: crypto.randomUUID() }), 404, ErrorCode.NotFound);
      expect((await call(h().app, 'GET', '/v1/runs', { token: fed.researcher.token })).body.runs).toEqual([]);
    });

    it('refuses a manifest that another organisation signed, or that says another run than the request, and starts nothing', async () => {
      const fed = await createFederation(h());
      const other = await createFederation(h());
      const s = fed.sites.map((site) => site.id).sort();
      const body = { collaborationId: fed.collaboration.id, ...BASE, participants: s };
      const signedBy = async (signer: Federation, claims: Record<string, unknown>) => (await withSignedManifest(signer, { ...body, ...claims })).manifest;
      const cases: Array<[string, unknown, RegExp]> = [
        ['another organisation\'s key', await signedBy({ ...fed, lab: { ...fed.lab, keys: other.lab.keys } }, {}), /does not verify with ".*"'s published signing key/],
        ['fewer participants', await signedBy(fed, { participants: s.slice(0, 2).concat(s[2]!).reverse() }), /lists the participants/],
        ['another modulus', await signedBy(fed, { modulus: '1000000009' }), /signs another secure sum/],
        ['another collaboration', await signedBy(fed, { collaborationId: other.collaboration.id }), /is signed for collaboration/],
      ];
      for (const [what, manifest, detail] of cases) {
        const res = await call(h().app, 'POST', '/v1/runs', { token: fed.researcher.token, body: { ...body, manifest } });
        expectProblem(res, 400, ErrorCode.InvalidInput);
        expect(res.body.detail, what).toMatch(detail);
      }
      expect((await call(h().app, 'GET', '/v1/runs', { token: fed.researcher.token })).body.runs).toEqual([]);
    });

    it('checks the participants before starting anything', async () => {
      const fed = await createFederation(h());
      const s = fed.sites.map((site) => site.id);
      const outsider = await createOrg(h());
      const expectRefused = async (body: Record<string, unknown>, status: number, code: string, detail: RegExp) => {
        const res = await start(h(), fed, body);
        expectProblem(res, status, code);
        expect(res.body.detail).toMatch(detail);
      };
      await expectRefused({ participants: [fed.lab.id, ...s] }, 400, ErrorCode.InvalidInput, /must not also contribute/);
      await expectRefused({ participants: [...s, outsider.id] }, 409, ErrorCode.Conflict, /not a member/);
      const keyless = await createOrg(h(), { keys: false });
      await call(h().app, 'POST', `/v1/collaborations/${fed.collaboration.id}/members`, { token: h().adminToken, body: { orgId: keyless.id } });
      await expectRefused({ participants: [...s, keyless.id] }, 409, ErrorCode.Conflict, /no live site/);
      // A site registered before enrolments needed the organisation's key: it may have none.
      await h().database.db.insert(sites).values({ collaborationId: fed.collaboration.id, orgId: keyless.id, credentialHash: randomBytes(32).toString('hex') });
      await expectRefused({ participants: [...s, keyless.id] }, 409, ErrorCode.Conflict, /not published its public keys/);
      await call(h().app, 'POST', `/v1/sites/${fed.siteIds[0]}/revoke`, { token: fed.operators[0]!.token });
      await expectRefused({ participants: [s[1], s[2], s[0]] }, 409, ErrorCode.Conflict, /no live site/);
      expect((await call(h().app, 'GET', '/v1/runs', { token: fed.researcher.token })).body.runs).toEqual([]);
    });

    it('needs three live sites and a receive key for the requester', async () => {
      const fed = await createFederation(h(), 2);
      const res = await start(h(), fed);
      expectProblem(res, 409, ErrorCode.Conflict);
      expect(res.body.detail).toMatch(/at least 3/);
      const bare = await createFederation(h());
      const lab = await createOrg(h(), { keys: false });
      await call(h().app, 'POST', `/v1/collaborations/${bare.collaboration.id}/members`, { token: h().adminToken, body: { orgId: lab.id } });
      const researcher = await createUser(h(), lab.id, UserRole.Researcher);
      const noKey = await start(h(), bare, {}, researcher.token);
      expectProblem(noKey, 409, ErrorCode.Conflict);
      expect(noKey.body.detail).toMatch(/no published receive key/);
    });

    it('refuses malformed run requests with 400 naming the field', async () => {
      const fed = await createFederation(h());
      const s = fed.sites.map((site) => site.id);
      const cases: Array<[Record<string, unknown>, string]> = [
        [{ modulus: '99' }, 'modulus'], [{ modulus: 1000003 }, 'modulus'], [{ modulus: '0123' }, 'modulus'],
        [{ dataset: '../etc/passwd' }, 'dataset'], [{ image: { name: 'x', digest: 'sha256:abc' } }, 'image.digest'],
        [{ image: { name: 'x@sha256:00', digest: IMAGE.digest } }, 'image.name'], [{ participants: [s[0], s[0], s[1]] }, 'participants'],
        [{ participants: [s[0], s[1]] }, 'participants'], [{ protocol: 'additive' }, 'protocol'], [{ collaborationId: 'nope' }, 'collaborationId'],
      ];
      for (const [body, field] of cases) {
        const res = await start(h(), fed, body);
        expectProblem(res, 400, ErrorCode.InvalidInput);
        expect(res.body.errors.map((e: { field: string }) => e.field)).toContain(field);
      }
      expectProblem(await call(h().app, 'GET', '/v1/runs/..%2F..', { token: fed.researcher.token }), 400, ErrorCode.InvalidInput);
      expectProblem(await call(h().app, 'GET', '/v1/runs/run-unknown', { token: fed.researcher.token }), 404, ErrorCode.NotFound);
    });

    it('answers 503 and leaves no run behind when Temporal is unreachable', async () => {
      const fed = await createFederation(h());
      const { body: started } = await start(h(), fed);
      const connection = Connection.lazy({ address: '127.0.0.1:1', connectTimeout: 500 });
      try {
        const app = h().makeApp({ runs: createTemporalRunLauncher(new Client({ connection }), { callTimeoutMs: 1000 }) });
        const res = await call(app, 'POST', '/v1/runs', { token: fed.researcher.token, body: await withSignedManifest(fed, { collaborationId: fed.collaboration.id, ...BASE }) });
        expectProblem(res, 503, ErrorCode.Unavailable);
        const runs = await call(app, 'GET', '/v1/runs', { token: fed.researcher.token });
        expect(runs.body.runs.map((r: { id: string }) => r.id)).toEqual([started.id]);
        // Status falls back to the last one known.
        expect((await call(app, 'GET', `/v1/runs/${started.id}`, { token: fed.researcher.token })).body.status).toBe('running');
      } finally {
        await connection.close();
        await endRun(started.id);
      }
    });
  });
}
