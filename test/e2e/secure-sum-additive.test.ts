/**
 * The secure sum by additive shares end to end, on real parts: the Temporal dev server, site
 * workers with their own keys, and real sandboxed containers on the Docker engine.
 */
import { randomInt } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { ImageRef } from '../../activities/types.ts';
import { asProtocolImage } from '../../activities/site-policy.ts';
import { COUNT_DATASET, createFederation, federationSigner, siteDepsOf, type Federation } from '../../demo/federation.ts';
import { startLocalCluster, type LocalCluster } from '../../demo/local-cluster.ts';
import { createDockerClient } from '../../provision/docker-engine.ts';
import { ensureExampleImages } from '../../provision/images.ts';
import { DEFAULT_MODULUS, openSecureSumResult, startSecureSumAdditive } from '../../researcher/runs.ts';
import type { SecureSumResult } from '../../workflows/index.ts';
import { historyText, plaintextFound } from '../support/history-scan.ts';
import { runLeftovers } from '../support/run-leftovers.ts';
import { testNamespace } from '../support/test-namespace.ts';

// Names of their own: test files run in parallel against one Temporal server, and a site's task
// queue is `site.<org>`, so another file's workers must never pick up these sites' steps.
const SITES = ['add-north', 'add-south', 'add-east', 'add-west', 'add-centre'];
// Six-digit counts: a whole-number match in a history cannot be a coincidence.
const counts = new Map(SITES.map((org) => [org, BigInt(randomInt(100_000, 1_000_000))]));

let docker: Docker;
let stateDir: string;
let federation: Federation;
let cluster: LocalCluster;
let additiveSum: ImageRef;

beforeAll(async () => {
  docker = createDockerClient();
  additiveSum = (await ensureExampleImages(docker, () => {})).additiveSum;
  stateDir = await mkdtemp(join(tmpdir(), 'parley-test-'));
  federation = await createFederation({ stateDir, counts, requester: 'researcher' });
  cluster = await startLocalCluster({
    temporalAddress: inject('temporalAddress'),
    namespace: testNamespace(import.meta.url),
    sites: federation.sites.map((site) => siteDepsOf(site, federation, docker, [asProtocolImage(additiveSum)])),
  });
});

afterAll(async () => {
  await cluster?.shutdown();
  if (stateDir) await rm(stateDir, { recursive: true, force: true });
});

function start(participants: string[], runId: string): Promise<WorkflowHandle> {
  const input = { participants, requester: 'researcher', dataset: COUNT_DATASET, modulus: DEFAULT_MODULUS, image: additiveSum, signer: federationSigner(federation) };
  return startSecureSumAdditive(cluster.client, input, runId);
}


/** Which step ran where and how many envelopes it sealed: all the workflow itself sees. */
function stepRouting(result: SecureSumResult): string[] {
  return result.steps.map((s) => `${s.step}@${s.org}:${s.envelopes}`);
}

describe('additive-share secure sum', () => {
  it.each([3, 5])('gives the researcher the total across %i sites, with no count, share or total in the history, and leaves nothing behind', async (n) => {
    const participants = SITES.slice(0, n);
    const runId = `test-additive${n}-${randomInt(1e9)}`;
    const handle = await start(participants, runId);
    const result = (await handle.result()) as SecureSumResult;
    // The aggregator (first participant) seals the total; openSecureSumResult checks it did.
    const total = await openSecureSumResult(result, federation.requester, federation.directory, participants[0]!);

    expect(result.protocol).toBe('additive');
    expect(total).toBe(participants.reduce((sum, org) => sum + counts.get(org)!, 0n));
    // n − 1 shares from each site, one partial from each site but the aggregator, one result.
    expect(stepRouting(result).sort()).toEqual([
      ...participants.map((org) => `additive.0.share@${org}:${n - 1}`),
      ...participants.map((org, i) => `additive.1.sum@${org}:${i === 0 ? 0 : 1}`),
      `additive.2.combine@${participants[0]}:1`,
    ].sort());
    expect(await runLeftovers(docker, runId)).toEqual({ containers: 0, volumes: 0 });
    // Shares and partials are uniform modulo 2^64 and known to no one here; they travel in the
    // same envelopes as the counts would, so counts and total are what a leak would show.
    expect(plaintextFound(await historyText(handle), [...participants.map((org) => counts.get(org)!), total])).toEqual([]);
  });

  it('fails clearly on bad count data at one site, without revealing it, and removes every volume', async () => {
    const bad = `-${randomInt(100_000, 1_000_000)}`;
    const east = federation.sites.find((s) => s.org === 'add-east')!;
    const countFile = join(east.datasets[COUNT_DATASET]!, 'count');
    await writeFile(countFile, `${bad}\n`);
    try {
      const participants = ['add-north', 'add-south', 'add-east'];
      const runId = `test-additive-badcount-${randomInt(1e9)}`;
      const handle = await start(participants, runId);
      const failure = await handle.result().catch((err: unknown) => err);
      expect(failure).toBeInstanceOf(WorkflowFailedError);
      const cause = (failure as WorkflowFailedError).cause as { cause?: { type?: string; message?: string } };
      expect(cause.cause?.type).toBe('ERR_STEP_FAILED');
      expect(cause.cause?.message).toMatch(/Step "additive\.0\.share" failed at site "add-east"/);
      expect(cause.cause?.message).toMatch(/not a non-negative integer/);
      expect(cause.cause?.message).not.toContain(bad.slice(1));
      expect(plaintextFound(await historyText(handle), [bad.slice(1), ...participants.map((o) => counts.get(o)!)])).toEqual([]);
      expect(await runLeftovers(docker, runId)).toEqual({ containers: 0, volumes: 0 });
    } finally {
      await writeFile(countFile, `${counts.get('add-east')}\n`);
    }
  });
});
