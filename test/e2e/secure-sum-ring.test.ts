/**
 * The ring secure sum end to end, on real parts: the Temporal dev server, site workers with
 * their own keys, and real sandboxed containers on the Docker engine.
 */
import { randomInt } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { ImageRef } from '../../activities/types.ts';
import { COUNT_DATASET, createFederation, federationSigner, siteDepsOf, type Federation } from '../../demo/federation.ts';
import { startLocalCluster, type LocalCluster } from '../../demo/local-cluster.ts';
import { createDockerClient } from '../../provision/docker-engine.ts';
import { ensureExampleImages } from '../../provision/images.ts';
import { DEFAULT_MODULUS, openSecureSumResult, startSecureSum, type RunSigner, type UnsignedSecureSumInput } from '../../researcher/runs.ts';
import { asProtocolImage } from '../../activities/site-policy.ts';
import type { SecureSumResult } from '../../workflows/index.ts';
import { historyText, plaintextFound } from '../support/history-scan.ts';
import { runLeftovers } from '../support/run-leftovers.ts';
import { testImages } from '../support/docker-images.ts';
import { testOrgs } from '../support/test-orgs.ts';
import { testNamespace } from '../support/test-namespace.ts';

// Names of this file's own: test files share one Temporal server, and a site polls `site.<org>`.
const ours = testOrgs(import.meta.url);
const SITES = ['north', 'south', 'east', 'west', 'centre'].map(ours);
const [NORTH, SOUTH, EAST] = SITES as [string, string, string];
// Six-digit counts: a whole-number match in a history cannot be a coincidence.
const counts = new Map(SITES.map((org) => [org, BigInt(randomInt(100_000, 1_000_000))]));

let docker: Docker;
let stateDir: string;
let federation: Federation;
let cluster: LocalCluster;
let secureSum: ImageRef;
let hang: ImageRef;

beforeAll(async () => {
  docker = createDockerClient();
  const images = await ensureExampleImages(docker, () => {});
  secureSum = images.secureSum;
  const built = (await testImages(docker, { hang: 'test-fixtures/hang' })).hang;
  hang = { name: built.ref, digest: built.digest };
  stateDir = await mkdtemp(join(tmpdir(), 'parley-test-'));
  federation = await createFederation({ stateDir, counts, requester: 'researcher' });
  cluster = await startLocalCluster({
    temporalAddress: inject('temporalAddress'),
    namespace: testNamespace(import.meta.url),
    sites: federation.sites.map((site) => siteDepsOf(site, federation, docker, [asProtocolImage(secureSum), asProtocolImage(hang)])),
  });
});

afterAll(async () => {
  await cluster?.shutdown();
  if (stateDir) await rm(stateDir, { recursive: true, force: true });
});

function input(participants: string[], overrides: Partial<UnsignedSecureSumInput> = {}): UnsignedSecureSumInput & { signer: RunSigner } {
  return { participants, requester: 'researcher', dataset: COUNT_DATASET, modulus: DEFAULT_MODULUS, image: secureSum, signer: federationSigner(federation), ...overrides };
}


/** Inspects every container a run creates, as it is created (before the site removes it). */
async function watchContainers(runId: string): Promise<{ inspected: Docker.ContainerInspectInfo[]; stop: () => void }> {
  const inspected: Docker.ContainerInspectInfo[] = [];
  const stream = (await docker.getEvents({
    filters: JSON.stringify({ type: ['container'], event: ['create'], label: [`parley.run=${runId}`] }),
  })) as NodeJS.ReadableStream & { destroy(): void };
  const pending: Promise<void>[] = [];
  stream.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) {
      const event = JSON.parse(line) as { id: string };
      pending.push(docker.getContainer(event.id).inspect().then((info) => void inspected.push(info)));
    }
  });
  return { inspected, stop: () => stream.destroy() };
}

async function sumOf(participants: string[], handle: WorkflowHandle): Promise<bigint> {
  const result = (await handle.result()) as SecureSumResult;
  return openSecureSumResult(result, federation.requester, federation.directory, participants[0]!);
}

/**
 * The steps of the run's containers as the engine creates them (from the create events' labels,
 * so even a container removed at once is seen); `created(step)` resolves when that step's is.
 */
async function watchCreatedSteps(runId: string): Promise<{ steps: string[]; created: (step: string) => Promise<void>; stop: () => void }> {
  const steps: string[] = [];
  const waiting = new Map<string, () => void>();
  const stream = (await docker.getEvents({
    filters: JSON.stringify({ type: ['container'], event: ['create'], label: [`parley.run=${runId}`] }),
  })) as NodeJS.ReadableStream & { destroy(): void };
  stream.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) {
      const step = (JSON.parse(line) as { Actor: { Attributes: Record<string, string> } }).Actor.Attributes['parley.step']!;
      steps.push(step);
      waiting.get(step)?.();
    }
  });
  const created = (step: string) => (steps.includes(step) ? Promise.resolve() : new Promise<void>((resolve) => waiting.set(step, resolve)));
  return { steps, created, stop: () => stream.destroy() };
}

/** The activities of a run's history by name, scheduled and completed. */
async function activitiesOf(handle: WorkflowHandle, name: string): Promise<{ scheduled: number; completed: number }> {
  const { events } = await handle.fetchHistory();
  const ids = new Set((events ?? []).filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === name).map((e) => Number(e.eventId)));
  const completed = (events ?? []).filter((e) => ids.has(Number(e.activityTaskCompletedEventAttributes?.scheduledEventId ?? -1))).length;
  return { scheduled: ids.size, completed };
}

describe('ring secure sum', () => {
  it('gives the researcher a + b + c across three sites, in sandboxed containers, and leaves nothing behind', async () => {
    const participants = SITES.slice(0, 3);
    const runId = `test-ring3-${randomInt(1e9)}`;
    const watch = await watchContainers(runId);
    const handle = await startSecureSum(cluster.client, input(participants), runId);
    const total = await sumOf(participants, handle);
    watch.stop();

    expect(total).toBe(participants.reduce((sum, org) => sum + counts.get(org)!, 0n));
    // start, two adds, finish: one container each, every one sandboxed as the contract says.
    expect(watch.inspected).toHaveLength(4);
    for (const container of watch.inspected) {
      const host = container.HostConfig;
      expect(host.NetworkMode).toBe('none');
      expect(host.ReadonlyRootfs).toBe(true);
      expect(host.CapDrop).toEqual(['ALL']);
      expect(host.SecurityOpt).toContain('no-new-privileges');
      expect(container.Config.User).toBe('10001:10001');
      expect(host.Memory).toBeGreaterThan(0);
      expect(host.NanoCpus).toBeGreaterThan(0);
      expect(host.PidsLimit).toBeGreaterThan(0);
      expect(host.Tmpfs?.['/tmp']).toMatch(/mode=1777/);
      const mounts = Object.fromEntries(container.Mounts.map((m) => [m.Destination, m]));
      expect(mounts[`/data/${COUNT_DATASET}`]?.RW).toBe(false);
      expect(mounts['/run/parley/input']?.RW).toBe(false);
      expect(mounts['/run/parley/volume']?.Type).toBe('volume');
      expect(container.Config.Labels['parley.run']).toBe(runId);
      expect(participants).toContain(container.Config.Labels['parley.site']);
    }
    expect(await runLeftovers(docker, runId)).toEqual({ containers: 0, volumes: 0 });
    // Each step after the first was prepared at its site while the one before it ran.
    expect(await activitiesOf(handle, 'prepareStep')).toEqual({ scheduled: 3, completed: 3 });

    const secrets = [...participants.map((org) => counts.get(org)!), total];
    expect(plaintextFound(await historyText(handle), secrets)).toEqual([]);
  });

  it('sums across five sites, with no count or total in the history', async () => {
    const runId = `test-ring5-${randomInt(1e9)}`;
    const handle = await startSecureSum(cluster.client, input(SITES), runId);
    const total = await sumOf(SITES, handle);
    expect(total).toBe([...counts.values()].reduce((a, b) => a + b, 0n));
    expect(plaintextFound(await historyText(handle), [...counts.values(), total])).toEqual([]);
    expect(await runLeftovers(docker, runId)).toEqual({ containers: 0, volumes: 0 });
  });

  it('fails clearly on bad count data, without revealing it, and removes every volume', async () => {
    const bad = `-${randomInt(100_000, 1_000_000)}`;
    const east = federation.sites.find((s) => s.org === EAST)!;
    const countFile = join(east.datasets[COUNT_DATASET]!, 'count');
    await writeFile(countFile, `${bad}\n`);
    try {
      const participants = [NORTH, SOUTH, EAST];
      const runId = `test-badcount-${randomInt(1e9)}`;
      const watch = await watchCreatedSteps(runId);
      const handle = await startSecureSum(cluster.client, input(participants), runId);
      const failure = await handle.result().catch((err: unknown) => err);
      watch.stop();
      // The finish was prepared at the initiator while the failing add ran; it never started.
      expect(watch.steps).toContain('ring.3.finish');
      expect(failure).toBeInstanceOf(WorkflowFailedError);
      const cause = (failure as WorkflowFailedError).cause as { cause?: { type?: string; message?: string } };
      expect(cause.cause?.type).toBe('ERR_STEP_FAILED');
      expect(cause.cause?.message).toMatch(new RegExp(`Step "ring\\.2\\.add" failed at site "${EAST}"`));
      expect(cause.cause?.message).toMatch(/not a non-negative integer/);
      expect(plaintextFound(await historyText(handle), [bad.slice(1), ...participants.map((o) => counts.get(o)!)])).toEqual([]);
      expect(await runLeftovers(docker, runId)).toEqual({ containers: 0, volumes: 0 });
    } finally {
      await writeFile(countFile, `${counts.get(EAST)}\n`);
    }
  });

  it('kills a hung algorithm at its timeout and ends the run as a clear step failure', async () => {
    const runId = `test-hang-${randomInt(1e9)}`;
    const handle = await startSecureSum(cluster.client, input(SITES.slice(0, 3), { image: hang, stepTimeoutMs: 2_000 }), runId);
    const failure = await handle.result().catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(WorkflowFailedError);
    const cause = (failure as WorkflowFailedError).cause as { cause?: { type?: string; message?: string } };
    expect(cause.cause?.type).toBe('ERR_STEP_TIMEOUT');
    expect(cause.cause?.message).toMatch(/ring\.0\.start/);
    expect(await runLeftovers(docker, runId)).toEqual({ containers: 0, volumes: 0 });
  });

  it('removes the next step\'s prepared container when the run is cancelled during the step before it', async () => {
    const runId = `test-cancel-prepared-${randomInt(1e9)}`;
    const watch = await watchCreatedSteps(runId);
    // The start hangs: the run is cancelled while it runs, once the first add's container exists.
    const handle = await startSecureSum(cluster.client, input(SITES.slice(0, 3), { image: hang, stepTimeoutMs: 120_000 }), runId);
    await watch.created('ring.1.add');
    await handle.cancel();
    const failure = (await handle.result().catch((err: unknown) => err)) as WorkflowFailedError;
    watch.stop();
    expect(failure).toBeInstanceOf(WorkflowFailedError);
    expect(failure.cause?.name).toBe('CancelledFailure');
    expect(watch.steps).toEqual(expect.arrayContaining(['ring.0.start', 'ring.1.add']));
    expect(await runLeftovers(docker, runId)).toEqual({ containers: 0, volumes: 0 });
  });

  it('refuses an image that is not on the site\'s allow-list, before running anything', async () => {
    const runId = `test-notallowed-${randomInt(1e9)}`;
    const unknown = { name: 'parley/secure-sum:other', digest: `sha256:${'0'.repeat(64)}` };
    const handle = await startSecureSum(cluster.client, input(SITES.slice(0, 3), { image: unknown }), runId);
    const failure = (await handle.result().catch((err: unknown) => err)) as WorkflowFailedError;
    const cause = failure.cause as { cause?: { type?: string; message?: string } };
    expect(cause.cause?.type).toBe('ERR_IMAGE_NOT_ALLOWED');
    expect(cause.cause?.message).toMatch(`not on site "${NORTH}"'s allow-list`);
  });

  it('refuses fewer than three participants before any site does anything', async () => {
    const handle = await startSecureSum(cluster.client, input(SITES.slice(0, 2)), `test-two-${randomInt(1e9)}`);
    const failure = (await handle.result().catch((err: unknown) => err)) as WorkflowFailedError;
    expect((failure.cause as { type?: string }).type).toBe('ERR_INVALID_INPUT');
    expect(failure.cause?.message).toMatch(/at least 3 participants/);
  });
});
