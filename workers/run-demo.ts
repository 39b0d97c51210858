/**
 * The one-command demo: three (or more) registries compute the sum of their counts with the ring
 * secure sum, on one machine, and the researcher opens the total. Everything it creates —
 * containers, volumes, the dev server, the workers, its temporary state — it removes, also
 * when interrupted.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import type { OrgId } from '../common/ids.ts';
import { removeRunVolumes } from '../activities/sandbox/run-volume.ts';
import type { SecureSumResult, StepReport } from '../workflows/index.ts';
import { COUNT_DATASET, createFederation, siteDepsOf } from './demo-federation.ts';
import { startLocalCluster } from './local-cluster.ts';
import { prepareMachine } from './provision/prepare-machine.ts';
import { DEFAULT_MODULUS, openSecureSumResult, startSecureSum } from './researcher.ts';

export interface DemoOptions {
  /** Each site's count, in ring order. */
  counts: bigint[];
  /** Keep keys and datasets here; a temporary directory (removed afterwards) when absent. */
  stateDir?: string;
  signal?: AbortSignal;
  progress?: (line: string) => void;
  env?: NodeJS.ProcessEnv;
}

export interface DemoReport {
  result: bigint;
  plainSum: bigint;
  workflowId: string;
  sites: OrgId[];
  requester: OrgId;
  steps: StepReport[];
  /** From starting the workflow to the opened result. */
  runMs: number;
  /** The whole demo, provisioning included. */
  totalMs: number;
}

/** Site names: registry-a, registry-b, … */
export function demoSiteNames(n: number): OrgId[] {
  return Array.from({ length: n }, (_, i) => `registry-${i < 26 ? String.fromCharCode(97 + i) : `s${i}`}`);
}

export const DEMO_REQUESTER = 'researcher';

/** Runs the demo end to end; throws on any failure after cleaning up. */
export async function runDemo(options: DemoOptions): Promise<DemoReport> {
  const started = performance.now();
  const progress = options.progress ?? (() => {});
  const signal = options.signal ?? new AbortController().signal;
  const sites = demoSiteNames(options.counts.length);
  const machine = await prepareMachine(progress, options.env ?? process.env);
  signal.throwIfAborted();

  const stateDir = options.stateDir ?? (await mkdtemp(join(tmpdir(), 'parley-demo-')));
  // Undone in this order: the run's containers and volumes, the cluster, the temporary state.
  const cleanups: Array<() => Promise<unknown>> = [];
  if (!options.stateDir) cleanups.push(() => rm(stateDir, { recursive: true, force: true }));
  try {
    const federation = await createFederation({
      stateDir,
      counts: new Map(sites.map((org, i) => [org, options.counts[i]!])),
      requester: DEMO_REQUESTER,
    });
    progress(`Organisations: ${sites.join(', ')} and ${DEMO_REQUESTER} (keys in ${stateDir}, private keys 0600)`);
    const allowed = [machine.images.secureSum];
    const cluster = await startLocalCluster({
      ...(machine.temporalAddress ? { temporalAddress: machine.temporalAddress } : {}),
      ...(machine.temporalCli ? { temporalCli: machine.temporalCli } : {}),
      sites: federation.sites.map((site) => siteDepsOf(site, federation, machine.docker, allowed)),
      progress,
    });
    cleanups.unshift(() => cluster.shutdown());
    signal.throwIfAborted();

    const runStarted = performance.now();
    const handle = await startSecureSum(cluster.client, {
      participants: sites,
      requester: DEMO_REQUESTER,
      dataset: COUNT_DATASET,
      modulus: DEFAULT_MODULUS,
      image: machine.images.secureSum,
    });
    const workflowId = handle.workflowId;
    // Belt and braces: whatever the workflow's own cleanup did, nothing of this run survives us.
    cleanups.unshift(() => Promise.all(sites.map((org) => removeRunVolumes(machine.docker, { runId: workflowId, org }))));
    progress(`Ring secure sum started: workflow ${workflowId}`);

    const result = await resultOrCancel(handle, signal);
    const total = await openSecureSumResult(result, federation.requester, federation.directory, sites[0]!);
    const runMs = performance.now() - runStarted;
    return {
      result: total,
      plainSum: options.counts.reduce((a, b) => a + b, 0n),
      workflowId,
      sites,
      requester: DEMO_REQUESTER,
      steps: result.steps,
      runMs,
      totalMs: performance.now() - started,
    };
  } finally {
    for (const cleanup of cleanups) await cleanup().catch((err) => progress(`cleanup: ${(err as Error).message}`));
  }
}

/** Waits for the result; on abort, cancels the run and waits for its cleanup to finish. */
async function resultOrCancel(handle: WorkflowHandle, signal: AbortSignal): Promise<SecureSumResult> {
  const result = handle.result() as Promise<SecureSumResult>;
  const onAbort = () => void handle.cancel().catch(() => undefined);
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    return await result;
  } catch (err) {
    if (signal.aborted) throw new Error('Interrupted: the run was cancelled and its containers and volumes removed.');
    if (err instanceof WorkflowFailedError) {
      const cause = err.cause as { message?: string; cause?: { message?: string } } | undefined;
      throw new Error(`The secure sum failed: ${cause?.cause?.message ?? cause?.message ?? err.message}`);
    }
    throw err;
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}
