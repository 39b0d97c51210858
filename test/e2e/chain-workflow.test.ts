/**
 * The chain workflow on real parts — the Temporal dev server, site workers with their own keys,
 * real sandboxed containers — with the probe test image, so each test can make steps send,
 * read, fail or hang as it needs. (The statistics chain with the real images: chain-statistics.test.ts.)
 */
import { randomInt } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { ChainResult, ChainStep, ContainerStep } from '../../common/chain.ts';
import { asAnalysisImage, asProtocolImage } from '../../activities/site-policy.ts';
import type { ImageRef } from '../../activities/types.ts';
import { createFederation, federationSigner, siteDepsOf, type Federation } from '../../demo/federation.ts';
import { startLocalCluster, type LocalCluster } from '../../demo/local-cluster.ts';
import { openChainOutputs, startChain } from '../../researcher/runs.ts';
import { testDocker, testImages } from '../support/docker-images.ts';
import { historyText, plaintextFound } from '../support/history-scan.ts';
import { runLeftovers } from '../support/run-leftovers.ts';
import { testNamespace } from '../support/test-namespace.ts';

// Names of their own: test files share one Temporal server, and a site polls `site.<org>`.
const [NORTH, SOUTH, EAST] = ['chain-north', 'chain-south', 'chain-east'] as const;
const SITES = [NORTH, SOUTH, EAST];
const REQUESTER = 'chain-researcher';

let docker: Docker;
let stateDir: string;
let federation: Federation;
let cluster: LocalCluster;
let probe: ImageRef;

beforeAll(async () => {
  docker = testDocker();
  const images = await testImages(docker, { probe: 'test-fixtures/probe' });
  probe = { name: images.probe.ref, digest: images.probe.digest };
  stateDir = await mkdtemp(join(tmpdir(), 'parley-chain-test-'));
  federation = await createFederation({ stateDir, counts: new Map(SITES.map((org) => [org, 0n])), requester: REQUESTER });
  cluster = await startLocalCluster({
    temporalAddress: inject('temporalAddress'),
    namespace: testNamespace(import.meta.url),
    sites: federation.sites.map((site) => siteDepsOf(site, federation, docker, [asAnalysisImage(probe, true), asProtocolImage(probe)])),
  });
});

afterAll(async () => {
  await cluster?.shutdown();
  if (stateDir) await rm(stateDir, { recursive: true, force: true });
});

/** A container step of the probe image; `args.action` says what it does. */
function probeStep(id: string, args: ContainerStep['args'], more: Partial<ContainerStep> = {}): ContainerStep {
  return { kind: 'container', id, image: probe, datasets: [], args, after: [], inputs: [], ...more };
}

function run(steps: ChainStep[], runId = `test-chain-${randomInt(1e9)}`) {
  const input = { chain: { name: 'probe-chain', steps }, participants: SITES, requester: REQUESTER, stepTimeoutMs: 60_000, signer: federationSigner(federation) };
  return { runId, handle: startChain(cluster.client, input, runId) };
}


async function failureOf(promise: Promise<unknown>): Promise<{ type?: string; message: string }> {
  const err = await promise.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(WorkflowFailedError);
  const cause = (err as WorkflowFailedError).cause as { type?: string; message: string; cause?: { type?: string; message: string } };
  // An activity's failure arrives wrapped in an ActivityFailure.
  return cause.cause ?? cause;
}

describe('chain workflow', () => {
  it('runs independent steps in parallel, hands messages to the steps that read them and same-site files to later steps, and seals outputs for the requester', async () => {
    const secret = `greeting-${randomInt(1e9)}`;
    const { runId, handle } = run([
      // Every site leaves a file in its run volume (the probe writes "probe" there).
      probeStep('first', { action: 'probe' }),
      // Meanwhile two sites each send the east site a message.
      probeStep('hello', { action: 'send', to: [EAST], content: { secret } }, { at: [NORTH, SOUTH] }),
      // East reads both messages, and finds its own file from "first".
      probeStep('read', { action: 'probe' }, { at: [EAST], after: ['first'], inputs: ['hello'] }),
    ]);
    const result = (await (await handle).result()) as ChainResult;
    const outputs = await openChainOutputs(result, federation.requester, federation.directory);

    expect(outputs.map((o) => `${o.step}@${o.org}`)).toEqual([
      `first@${NORTH}`, `first@${SOUTH}`, `first@${EAST}`, `hello@${NORTH}`, `hello@${SOUTH}`, `read@${EAST}`,
    ]);
    const read = outputs.find((o) => o.step === 'read')!.content as { volume: Record<string, string>; inputs: Array<{ from: string; step: string; content: unknown }> };
    expect(read.volume).toHaveProperty('probe');
    expect(read.inputs.map((i) => ({ from: i.from, step: i.step, content: i.content })).sort((a, b) => a.from.localeCompare(b.from))).toEqual([
      { from: NORTH, step: 'hello', content: { secret } },
      { from: SOUTH, step: 'hello', content: { secret } },
    ]);
    // Each site sealed with sequence numbers in the order its steps ran: north 0 (first's
    // output), 1, 2 (hello's message and output) — in whichever order the steps ran there.
    expect(result.steps.filter((s) => s.org === NORTH).reduce((n, s) => n + s.envelopes, 0)).toBe(3);
    // The probe sent what its arguments said, and arguments are public (they are in the
    // history); what the sites sent each other travelled sealed all the same.
    expect(plaintextFound(JSON.stringify(result.outputs), [secret])).toEqual([]);
    expect(await runLeftovers(docker, runId)).toEqual({ containers: 0, volumes: 0 });
  });

  it('fails the run with the failing step, site and the algorithm\'s last lines, runs nothing after it, and removes everything', async () => {
    const { runId, handle } = run([
      probeStep('first', { action: 'probe' }),
      probeStep('broken', { action: 'fail', stderr: 2, exitCode: 3 }, { at: [SOUTH], after: ['first'] }),
      probeStep('never', { action: 'probe' }, { after: ['broken'] }),
    ]);
    const failure = await failureOf((await handle).result());
    expect(failure.type).toBe('ERR_STEP_FAILED');
    expect(failure.message).toContain(`Step "broken" failed at site "${SOUTH}"`);
    expect(failure.message).toContain('exited with code 3');
    const history = await historyText(await handle);
    expect(history).not.toContain('"step":"never"');
    expect(await runLeftovers(docker, runId)).toEqual({ containers: 0, volumes: 0 });
  });

  it('fails a step killed at its memory limit with its own code, naming the limit and the setting to raise, without retrying it', async () => {
    // Past the site's default limit (512 MiB): the kernel kills the container on the way.
    const { runId, handle } = run([probeStep('greedy', { action: 'allocate', mb: 768 }, { at: [EAST] })]);
    const failure = await failureOf((await handle).result());
    expect(failure.type).toBe('ERR_STEP_OUT_OF_MEMORY');
    const [firstLine] = failure.message.split('\n');
    expect(firstLine).toBe(
      `Step "greedy" failed at site "${EAST}": its algorithm used more than the site's memory limit of 512 MiB and was killed (ERR_STEP_OUT_OF_MEMORY). ` +
        'Ask the site\'s operator to raise limits.memoryMb in its site.yaml (and restart its worker), or make the algorithm use less memory; what it reported is sealed for the site.',
    );
    // One attempt: the same step under the same limit would be killed again.
    const { events } = await (await handle).fetchHistory();
    const attempts = (events ?? []).flatMap((e) => (e.activityTaskStartedEventAttributes ? [e.activityTaskStartedEventAttributes.attempt] : []));
    expect(attempts).toContain(1);
    expect(Math.max(...attempts.map(Number))).toBe(1);
    expect(await runLeftovers(docker, runId)).toEqual({ containers: 0, volumes: 0 });
  });

    it('fails clearly when a step sends a message no later step reads: the site takes messages only to where the signed chain routes them', async () => {
    const { runId, handle } = run([probeStep('hello', { action: 'send', to: [EAST], content: { x: 1 } }, { at: [NORTH] })]);
    const failure = await failureOf((await handle).result());
    expect(failure.type).toBe('ERR_STEP_PROTOCOL');
    expect(failure.message).toMatch(new RegExp(`Step "hello" at site "${NORTH}" broke the node-socket contract`));
    expect(await runLeftovers(docker, runId)).toEqual({ containers: 0, volumes: 0 });
  });

  it('on cancel, kills the running containers and removes every container and volume it made', async () => {
    const runId = `test-chain-cancel-${randomInt(1e9)}`;
    const started = containerStarted(runId);
    const h = await run([probeStep('stuck', { action: 'hang' })], runId).handle;
    await started;
    await h.cancel();
    const failure = await h.result().then(() => undefined, (e: unknown) => e);
    expect(failure).toBeInstanceOf(WorkflowFailedError);
    expect((await h.describe()).status.name).toBe('CANCELLED');
    expect(await runLeftovers(docker, runId)).toEqual({ containers: 0, volumes: 0 });
  });

  it('refuses a chain that names a site outside the run before any site does anything', async () => {
    const { runId, handle } = run([probeStep('lost', { action: 'probe' }, { at: ['chain-nowhere'] })]);
    const failure = await failureOf((await handle).result());
    expect(failure.type).toBe('ERR_INVALID_INPUT');
    expect(failure.message).toContain('runs at "chain-nowhere", which is not a participant');
    expect(await historyText(await handle)).not.toMatch(/activityTaskScheduled/i);
    expect(await runLeftovers(docker, runId)).toEqual({ containers: 0, volumes: 0 });
  });
});

/**
 * Resolves once a container of the run has started: Docker's event stream, filtered by the run's
 * label, tells the moment it happens (no polling). Call it before starting the run: the engine
 * answers the events request only with the first event, and the request must be in before it.
 */
async function containerStarted(runId: string): Promise<void> {
  const filters = JSON.stringify({ type: ['container'], event: ['start'], label: [`parley.run=${runId}`] });
  const stream = await docker.getEvents({ filters } as unknown as Parameters<Docker['getEvents']>[0]);
  await new Promise<void>((resolve, reject) => {
    stream.once('data', () => resolve());
    stream.once('error', reject);
  });
  (stream as unknown as { destroy(): void }).destroy();
}
