/**
 * Chain runs, against a real Temporal dev server: a researcher starts a chain, follows its
 * progress per step and site (long-polled from the workflow history), cancels it, and fetches
 * its outputs sealed for their organisation. The coordinator's place is taken by a real worker
 * running a stand-in chain workflow (testing/stub-chain-workflow.ts) whose site steps end when
 * the test says.
 */
import { defaultPayloadConverter } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChainSpec } from '../../common/chain.ts';
import { ErrorCode } from '../../common/errors.ts';
import { createMemoryReplayGuard, openEnvelope, sealEnvelope } from '../../crypto/index.ts';
import type { Federation } from '../testing/fixtures.ts';
import { createFederation, uid, withSignedManifest } from '../testing/fixtures.ts';
import type { Harness } from '../testing/harness.ts';
import { startStubCoordinator, type StubCoordinator } from '../testing/stub-coordinator.ts';
import { call, expectProblem } from '../testing/http.ts';
import type { Answer } from '../testing/http.ts';

const image = (byte: string, name: string) => ({ name, digest: `sha256:${byte.repeat(32)}` });

/** The example chain, resolved: preprocess → analyse → additive secure sum. */
function cohortMean(): ChainSpec {
  return {
    name: `cohort-mean-${uid()}`,
    steps: [
      { kind: 'container', id: 'preprocess', image: image('01', 'parley/preprocess'), datasets: ['registry'], args: { where: [{ column: 'age', op: '>=', value: 18 }] }, after: [], inputs: [] },
      { kind: 'container', id: 'analyse', image: image('02', 'parley/analyse'), datasets: [], args: { column: 'lab_value' }, after: ['preprocess'], inputs: [] },
      { kind: 'secure-sum', id: 'total', protocol: 'additive', image: image('03', 'parley/additive-sum'), values: 'statistics.json', modulus: '18446744073709551616', after: ['analyse'] },
    ],
  };
}

/** Site steps the test holds open until it releases them, by chain name, step and site. */
const gates = new Map<string, { release: () => void; fail: (message: string) => void; promise: Promise<void> }>();
function hold(chain: string, step: string, org: string) {
  let release!: () => void;
  let fail!: (message: string) => void;
  const promise = new Promise<void>((resolve, reject) => {
    release = resolve;
    fail = (message) => reject(new Error(message));
  });
  // A step failed before its activity runs must not count as an unhandled rejection.
  promise.catch(() => undefined);
  const gate = { release, fail, promise };
  gates.set(`${chain}/${step}/${org}`, gate);
  return gate;
}

export function chainRunsSuite(h: () => Harness): void {
  describe('/v1/runs with a chain', () => {
    let coordinator: StubCoordinator | undefined;
    /** Chain name of each run, so the activity finds the test's gate. */
    const chainOf = new Map<string, string>();

    beforeAll(async () => {
      coordinator = await startStubCoordinator(h(), './stub-workflows.ts', {
        runStep: async ({ runId, step, org }: { runId: string; step: string; org: string }) => gates.get(`${chainOf.get(runId)}/${step}/${org}`)?.promise,
      });
    });

    afterAll(async () => {
      for (const gate of gates.values()) gate.release();
      await coordinator?.stop();
    });

    const start = async (fed: Federation, chain: ChainSpec, extra: Record<string, unknown> = {}): Promise<Answer> => {
      const res = await call(h().app, 'POST', '/v1/runs', { token: fed.researcher.token, body: await withSignedManifest(fed, { collaborationId: fed.collaboration.id, chain, ...extra }) });
      if (res.status === 201) chainOf.set(res.body.id, chain.name);
      return res;
    };
    const progress = (fed: Federation, runId: string, query = '') => call(h().app, 'GET', `/v1/runs/${runId}/progress${query}`, { token: fed.researcher.token });
    const stateOf = (answer: Answer) => Object.fromEntries(answer.body.sites.map((s: { siteStep: string; org: string; state: string }) => [`${s.siteStep}@${s.org}`, s.state]));
    /** Long-polls progress until `done` holds of it (each poll returns at the next change). */
    const progressUntil = async (fed: Federation, runId: string, done: (answer: Answer) => boolean): Promise<Answer> => {
      let answer = await progress(fed, runId);
      const deadline = Date.now() + 30_000;
      while (!done(answer) && Date.now() < deadline) answer = await progress(fed, runId, `?wait=5&after=${answer.body.cursor}`);
      return answer;
    };
    const finish = (runId: string, outcome: { result?: unknown; failure?: string }) =>
      h().temporal.client.workflow.getHandle(runId).signal('finish', outcome);

    it('starts chainWorkflow on parley.coordinator with the chain, the participants and the requester', async () => {
      const fed = await createFederation(h());
      const chain = cohortMean();
      const res = await start(fed, chain);
      expect(res.status).toBe(201);
      const participants = fed.sites.map((s) => s.id).sort();
      expect(res.body).toMatchObject({ protocol: 'chain', participants, chain, status: 'running', hasResult: false, requester: { orgId: fed.lab.id } });
      expect(res.body).not.toHaveProperty('modulus');
      const handle = h().temporal.client.workflow.getHandle(res.body.id);
      const description = await handle.describe();
      expect({ type: description.type, taskQueue: description.taskQueue }).toEqual({ type: 'chainWorkflow', taskQueue: 'parley.coordinator' });
      const history = await handle.fetchHistory();
      const input = history.events![0]!.workflowExecutionStartedEventAttributes!.input!.payloads![0]!;
      expect(defaultPayloadConverter.fromPayload(input)).toEqual({ chain, participants, requester: fed.lab.id, manifest: expect.stringMatching(/^[\w-]+\.[\w-]+\.[\w-]+$/) });
      const stored = await h().database.db.query.runs.findFirst({ where: (r, { eq }) => eq(r.id, res.body.id) });
      expect(stored).toMatchObject({ protocol: 'chain', spec: { chain } });
      const audit = await call(h().app, 'GET', `/v1/audit?targetId=${res.body.id}`, { token: h().adminToken });
      expect(audit.body.events).toMatchObject([{ action: 'run.start', details: { chain: chain.name } }]);
      await handle.terminate('test over');
    });

    it('shows progress per step and site as it changes, long-polled, then serves every output sealed for the requester', async () => {
      const fed = await createFederation(h());
      const chain = cohortMean();
      const [a, b, c] = fed.sites.map((s) => s.id).sort() as [string, string, string];
      const held = hold(chain.name, 'preprocess', b);
      const { body: run } = await start(fed, chain);

      const first = await progressUntil(fed, run.id, (p) => stateOf(p)[`preprocess@${a}`] === 'done' && stateOf(p)[`preprocess@${c}`] === 'done' && stateOf(p)[`preprocess@${b}`] === 'running');
      expect(stateOf(first)).toEqual({
        [`preprocess@${a}`]: 'done', [`preprocess@${b}`]: 'running', [`preprocess@${c}`]: 'done',
        [`analyse@${a}`]: 'pending', [`analyse@${b}`]: 'pending', [`analyse@${c}`]: 'pending',
        [`total@${a}`]: 'pending', [`total@${b}`]: 'pending', [`total@${c}`]: 'pending',
      });
      expect(first.body).toMatchObject({ runId: run.id, status: 'running', cursor: expect.any(Number) });

      // Nothing changes while the step is held: the wait runs its course.
      const began = Date.now();
      const unchanged = await progress(fed, run.id, `?wait=1&after=${first.body.cursor}`);
      expect(Date.now() - began).toBeGreaterThanOrEqual(900);
      expect(stateOf(unchanged)[`preprocess@${b}`]).toBe('running');

      // A long poll answers as soon as the step ends.
      const waiting = progress(fed, run.id, `?wait=30&after=${first.body.cursor}`);
      await new Promise((resolve) => setTimeout(resolve, 300));
      const released = Date.now();
      held.release();
      const next = await waiting;
      expect(Date.now() - released).toBeLessThan(5_000);
      expect(next.body.cursor).toBeGreaterThan(first.body.cursor);
      expect(stateOf(next)[`preprocess@${b}`]).toBe('done');

      const analysed = await progressUntil(fed, run.id, (p) => [a, b, c].every((org) => stateOf(p)[`analyse@${org}`] === 'done'));
      expect([a, b, c].map((org) => stateOf(analysed)[`analyse@${org}`])).toEqual(['done', 'done', 'done']);

      const outputs = await Promise.all([a, b].map(async (org, i) => ({
        step: 'total', boundStep: `total.combine.${i}`, org,
        envelope: await sealEnvelope({
          binding: { runId: run.id, step: `total.combine.${i}`, from: org, to: [fed.lab.id], seq: 7 },
          body: new TextEncoder().encode(JSON.stringify({ total: i })),
          sender: fed.sites.find((s) => s.id === org)!.keys,
          recipients: [{ org: fed.lab.id, receiveJwk: fed.lab.keys.receive.publicJwk }],
        }),
      })));
      await finish(run.id, { result: { runId: run.id, chain: chain.name, outputs, steps: [] } });
      const ended = await call(h().app, 'GET', `/v1/runs/${run.id}?wait=30`, { token: fed.researcher.token });
      expect(ended.body.status).toBe('completed');
      const result = await call(h().app, 'GET', `/v1/runs/${run.id}/result`, { token: fed.researcher.token });
      expect(result.status).toBe(200);
      expect(result.body).toEqual({ runId: run.id, outputs });
      const opened = await openEnvelope(result.body.outputs[1].envelope, {
        expect: { runId: run.id, step: 'total.combine.1', recipient: fed.lab.id },
        receiveKey: fed.lab.keys.receive.privateJwk,
        senderSigningKey: async (org) => fed.sites.find((s) => s.id === org)?.keys.sign.publicJwk,
        replayGuard: createMemoryReplayGuard(),
      });
      expect(JSON.parse(new TextDecoder().decode(opened.body))).toEqual({ total: 1 });
      // Kept once fetched, and served again from the database.
      expect((await call(h().app, 'GET', `/v1/runs/${run.id}`, { token: fed.researcher.token })).body.hasResult).toBe(true);
      expect((await call(h().app, 'GET', `/v1/runs/${run.id}/result`, { token: fed.researcher.token })).body).toEqual({ runId: run.id, outputs });
      const final = await progress(fed, run.id);
      expect(final.body.status).toBe('completed');
    });

    it('shows a failed site step as failed', async () => {
      const fed = await createFederation(h());
      const chain = cohortMean();
      const org = fed.sites[1]!.id;
      hold(chain.name, 'preprocess', org).fail('no such dataset');
      const { body: run } = await start(fed, chain);
      const answer = await progressUntil(fed, run.id, (p) => stateOf(p)[`preprocess@${org}`] === 'failed');
      expect(stateOf(answer)[`preprocess@${org}`]).toBe('failed');
      // The run may already have ended over the failure; either way it is over.
      await h().temporal.client.workflow.getHandle(run.id).terminate('test over').catch((err: unknown) => {
        if ((err as { name?: string }).name !== 'WorkflowNotFoundError') throw err;
      });
    });

    it('cancels a running chain (409 once it has ended), with an audit event', async () => {
      const fed = await createFederation(h());
      const chain = cohortMean();
      const held = hold(chain.name, 'preprocess', fed.sites[0]!.id);
      const { body: run } = await start(fed, chain);
      const cancel = () => call(h().app, 'POST', `/v1/runs/${run.id}/cancel`, { token: fed.researcher.token });
      const res = await cancel();
      expect(res.status).toBe(202);
      expect(res.body).toMatchObject({ id: run.id });
      const ended = await call(h().app, 'GET', `/v1/runs/${run.id}?wait=30`, { token: fed.researcher.token });
      expect(ended.body.status).toBe('cancelled');
      held.release();
      const again = await cancel();
      expectProblem(again, 409, ErrorCode.Conflict);
      expect(again.body.detail).toMatch(/already cancelled/);
      const audit = await call(h().app, 'GET', `/v1/audit?targetId=${run.id}`, { token: h().adminToken });
      expect(audit.body.events.map((e: { action: string }) => e.action)).toEqual(['run.start', 'run.cancel', 'run.status']);
      // Only researchers of the requesting organisation cancel it.
      expectProblem(await call(h().app, 'POST', `/v1/runs/${run.id}/cancel`, { token: fed.operators[0]!.token }), 403, ErrorCode.Forbidden);
    });

    it('checks a chain against the participants before starting anything', async () => {
      const fed = await createFederation(h());
      const s = fed.sites.map((site) => site.id);
      const chain = cohortMean();
      const tooFew = await start(fed, chain, { participants: [s[0], s[1]] });
      expectProblem(tooFew, 409, ErrorCode.Conflict);
      expect(tooFew.body.detail).toMatch(/a secure sum needs at least 3/);
      const report = { kind: 'container' as const, id: 'report', image: image('04', 'parley/report'), at: [s[2]!], datasets: [], args: {}, after: [], inputs: [] };
      const notTakingPart = await start(fed, { ...chain, steps: [...chain.steps.slice(0, 2), report] }, { participants: [s[0], s[1]] });
      expectProblem(notTakingPart, 409, ErrorCode.Conflict);
      expect(notTakingPart.body.errors).toEqual([expect.objectContaining({ field: 'chain.steps[2].at[0]' })]);
      // Without a secure sum, fewer than three sites may take part.
      const twoSites = await start(fed, { ...chain, steps: chain.steps.slice(0, 2) }, { participants: [s[0], s[1]] });
      expect(twoSites.status).toBe(201);
      await h().temporal.client.workflow.getHandle(twoSites.body.id).terminate('test over');
      expectProblem(await start(fed, chain, { participants: [fed.lab.id, ...s] }), 400, ErrorCode.InvalidInput);
    });

    it('refuses a malformed chain with 400 naming the field, as strictly as a chain file', async () => {
      const fed = await createFederation(h());
      const chain = cohortMean();
      const withStep = (i: number, change: Record<string, unknown>) => ({ ...chain, steps: chain.steps.map((step, j) => (j === i ? { ...step, ...change } : step)) });
      const cases: Array<[Record<string, unknown>, string]> = [
        [{ chain: withStep(1, { after: ['total'] }) }, 'chain.steps[1].after[0]'],
        [{ chain: withStep(1, { id: 'preprocess' }) }, 'chain.steps[1].id'],
        [{ chain: withStep(0, { image: { name: 'parley/preprocess' } }) }, 'chain.steps[0].image.digest'],
        [{ chain: withStep(2, { protocol: 'shamir' }) }, 'chain.steps[2].protocol'],
        [{ chain: withStep(2, { values: '../../etc/passwd' }) }, 'chain.steps[2].values'],
        [{ chain: { ...chain, sites: ['x'] } }, 'chain.sites'],
        [{ chain, modulus: '1000000007' }, 'modulus'],
        [{ chain: { ...chain, steps: [] } }, 'chain.steps'],
      ];
      for (const [body, field] of cases) {
        const res = await call(h().app, 'POST', '/v1/runs', { token: fed.researcher.token, body: await withSignedManifest(fed, { collaborationId: fed.collaboration.id, ...body }) });
        expectProblem(res, 400, ErrorCode.InvalidInput);
        expect(res.body.errors.map((e: { field: string }) => e.field), field).toContain(field);
      }
      expect((await call(h().app, 'GET', '/v1/runs', { token: fed.researcher.token })).body.runs).toEqual([]);
    });

    it('keeps progress and cancel to the requesting organisation, and refuses a bad cursor', async () => {
      const fed = await createFederation(h());
      const other = await createFederation(h());
      const { body: run } = await start(fed, cohortMean());
      expectProblem(await call(h().app, 'GET', `/v1/runs/${run.id}/progress`, { token: other.researcher.token }), 404, ErrorCode.NotFound);
      expectProblem(await call(h().app, 'POST', `/v1/runs/${run.id}/cancel`, { token: other.researcher.token }), 404, ErrorCode.NotFound);
      expectProblem(await progress(fed, run.id, '?after=-1'), 400, ErrorCode.InvalidInput);
      expectProblem(await progress(fed, run.id, '?wait=61'), 400, ErrorCode.InvalidInput);
      await h().temporal.client.workflow.getHandle(run.id).terminate('test over');
    });
  });
}
