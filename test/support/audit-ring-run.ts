/**
 * A three-site secure sum (ring, or additive shares) on real parts, for the audit tests and the
 * golden-history recorder: a federation with six-digit counts, a coordinator and site workers on
 * a given Temporal server, real sandboxed containers.
 */
import { randomInt } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { COUNT_DATASET, createFederation, federationSigner, siteDepsOf, type Federation } from '../../demo/federation.ts';
import { startLocalCluster, type LocalCluster } from '../../demo/local-cluster.ts';
import { createDockerClient } from '../../provision/docker-engine.ts';
import { ensureExampleImages } from '../../provision/images.ts';
import { DEFAULT_MODULUS, openSecureSumResult, startSecureSum, startSecureSumAdditive } from '../../researcher/runs.ts';
import { asProtocolImage } from '../../activities/site-policy.ts';
import type { SecureSumResult } from '../../workflows/index.ts';

/**
 * The golden recorder's sites (test/golden/record.ts): their names are in the recorded histories.
 * A test file passes names of its own (test-orgs.ts): files share one Temporal server, and a
 * worker polls `site.<org>`.
 */
export const RING_SITES = ['audit-north', 'audit-south', 'audit-east'];

export interface RingRun {
  workflowId: string;
  handle: WorkflowHandle;
  total: bigint;
  /** Every site's count and the total: none may appear in the history. */
  secrets: bigint[];
}

export interface RingFederation {
  cluster: LocalCluster;
  federation: Federation;
  /** Runs one secure sum (the ring unless told) to its opened result. */
  run(workflowId?: string, protocol?: 'ring' | 'additive'): Promise<RingRun>;
  shutdown(): Promise<void>;
}

/**
 * Starts the federation and its workers on the Temporal server at `temporalAddress`, in
 * `namespace` (a test file's own: test-namespace.ts; default `default`). `sites` (the first
 * initiates) must be this test file's own when it shares a namespace.
 */
export async function startRingFederation(temporalAddress: string, sites: readonly string[] = RING_SITES, namespace = 'default'): Promise<RingFederation> {
  const docker = createDockerClient();
  // The example images, as the demo runs them (and as the golden histories name them).
  const { secureSum, additiveSum } = await ensureExampleImages(docker, () => {});
  // Six-digit counts: a whole-number match in a history cannot be a coincidence.
  const counts = new Map(sites.map((org) => [org, BigInt(randomInt(100_000, 1_000_000))]));
  const stateDir = await mkdtemp(join(tmpdir(), 'parley-audit-'));
  const federation = await createFederation({ stateDir, counts, requester: 'researcher' });
  const cluster = await startLocalCluster({
    temporalAddress,
    namespace,
    sites: federation.sites.map((site) => siteDepsOf(site, federation, docker, [asProtocolImage(secureSum), asProtocolImage(additiveSum)])),
  });
  return {
    cluster,
    federation,
    async run(workflowId = `test-audit-${randomInt(1e9)}`, protocol = 'ring') {
      const input = { participants: [...sites], requester: 'researcher', dataset: COUNT_DATASET, modulus: DEFAULT_MODULUS, image: protocol === 'ring' ? secureSum : additiveSum };
      const handle = await (protocol === 'ring' ? startSecureSum : startSecureSumAdditive)(cluster.client, { ...input, signer: federationSigner(federation) }, workflowId);
      const result = (await handle.result()) as SecureSumResult;
      const total = await openSecureSumResult(result, federation.requester, federation.directory, sites[0]!);
      return { workflowId, handle, total, secrets: [...counts.values(), total] };
    },
    async shutdown() {
      await cluster.shutdown();
      await rm(stateDir, { recursive: true, force: true });
    },
  };
}
