/**
 * The one-command demo: three (or more) registries compute the sum of their counts with the ring
 * secure sum, on one machine, and the researcher opens the total. By default everything goes
 * through the Parley API, as in a deployment: organisations and keys are registered there, sites
 * fetch and pin each other's keys from it, the researcher starts the run and fetches the sealed
 * result through it. Everything the demo creates — containers, volumes, the dev server, the
 * workers, the API, its temporary state — it removes, also when interrupted.
 */
import { performance } from 'node:perf_hooks';
import { WorkflowFailedError, type Client } from '@temporalio/client';
import type { OrgId } from '../common/ids.ts';
import { removeRunVolumes } from '../activities/sandbox/run-volume.ts';
import type { SecureSumResult, StepReport } from '../workflows/index.ts';
import type { ApiClient } from '../activities/api-client.ts';
import { COUNT_DATASET } from './federation.ts';
import { startDemoEnvironment, type DemoRunOptions } from './environment.ts';
import { createPhaseTimings, type PhaseSpan } from './phase-timings.ts';
import { DEFAULT_MODULUS, openSecureSumResult, startSecureSum, startSecureSumThroughApi } from '../researcher/runs.ts';
import { asProtocolImage } from '../activities/site-policy.ts';

export interface DemoOptions extends DemoRunOptions {
  /** Each site's count, in ring order. */
  counts: bigint[];
}

export interface DemoReport {
  result: bigint;
  plainSum: bigint;
  workflowId: string;
  sites: OrgId[];
  requester: OrgId;
  steps: StepReport[];
  apiUrl?: string;
  /** From starting the run to the opened result. */
  runMs: number;
  /** The whole demo, provisioning included, up to the opened result (not the clean-up after it). */
  totalMs: number;
  /** When each phase began and how long it took (demo/phase-timings.ts); `close` is the clean-up. */
  phases: PhaseSpan[];
}

/** Site names: registry-a, registry-b, … */
export function demoSiteNames(n: number): OrgId[] {
  return Array.from({ length: n }, (_, i) => `registry-${i < 26 ? String.fromCharCode(97 + i) : `s${i}`}`);
}

export const DEMO_REQUESTER = 'researcher';

/** Runs the demo end to end; throws on any failure after cleaning up. */
export async function runDemo(options: DemoOptions): Promise<DemoReport> {
  const started = performance.now();
  const timings = options.timings ?? createPhaseTimings(started);
  const progress = options.progress ?? (() => {});
  const signal = options.signal ?? new AbortController().signal;
  const sites = demoSiteNames(options.counts.length);
  const env = await startDemoEnvironment({
    ...options,
    sites,
    requester: DEMO_REQUESTER,
    counts: new Map(sites.map((org, i) => [org, options.counts[i]!])),
    allowed: (images) => [asProtocolImage(images.secureSum)],
    signal,
    progress,
    timings,
  });
  let report: Omit<DemoReport, 'phases'>;
  try {
    const { machine, federation, cluster, api, temporal } = env;
    const runStarted = performance.now();
    const input = { participants: sites, requester: DEMO_REQUESTER, dataset: COUNT_DATASET, modulus: DEFAULT_MODULUS, image: machine.images.secureSum };
    const workflowId = api
      ? (await startSecureSumThroughApi(api.researcher, env.signer, { participants: sites, modulus: input.modulus, dataset: input.dataset, image: input.image })).id
      : (await startSecureSum(cluster.client, { ...input, signer: env.signer })).workflowId;
    // Belt and braces: whatever the workflow's own cleanup did, nothing of this run survives us.
    env.onClose(() => Promise.all(sites.map((org) => removeRunVolumes(machine.docker, { runId: workflowId, org }))));
    progress(`Ring secure sum started${api ? ' through the API' : ''}: workflow ${workflowId}`);

    let total: bigint;
    let outcome: SecureSumResult;
    if (api) {
      // The researcher waits through the API (its long poll); the operator's view of the same
      // run, for the per-step timings, is awaited alongside.
      const [sealed, operatorView] = await Promise.all([
        // A run that did not complete has no result: the operator's view says why.
        waitThroughApi(api.researcher, workflowId).then((status) => (status === 'completed' ? api.researcher.runResult(workflowId) : undefined)),
        outcomeOrCancel<SecureSumResult>(temporal, workflowId, signal, 'The secure sum'),
      ]);
      outcome = operatorView;
      if (!sealed) throw new Error(`The API reports run ${workflowId} as not completed, though Temporal says it completed.`);
      total = await openSecureSumResult({ ...outcome, result: sealed.envelope }, federation.requester, env.researcherDirectory, sites[0]!);
    } else {
      outcome = await outcomeOrCancel<SecureSumResult>(temporal, workflowId, signal, 'The secure sum');
      total = await openSecureSumResult(outcome, federation.requester, federation.directory, sites[0]!);
    }
    const runMs = performance.now() - runStarted;
    timings.end('run', runStarted);
    report = {
      result: total,
      plainSum: options.counts.reduce((a, b) => a + b, 0n),
      workflowId,
      sites,
      requester: DEMO_REQUESTER,
      steps: outcome.steps,
      ...(api ? { apiUrl: api.url } : {}),
      runMs,
      totalMs: performance.now() - started,
    };
  } finally {
    await timings.span('close', () => env.close());
  }
  return { ...report, phases: timings.spans() };
}

/** The API's view of the run, waited on with its long poll until the run has ended. */
export async function waitThroughApi(api: ApiClient, runId: string): Promise<string> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const view = await api.run(runId, { waitSeconds: 30 });
    if (view.status !== 'running') return view.status;
  }
  throw new Error(`Run ${runId} is still running after 10 minutes.`);
}

/**
 * Waits for the workflow's outcome (per-step timings for the report; the result is fetched and
 * opened separately). On abort, cancels the run and waits for its cleanup to finish.
 */
export async function outcomeOrCancel<T>(temporal: Client, workflowId: string, signal: AbortSignal, what: string): Promise<T> {
  const handle = temporal.workflow.getHandle(workflowId);
  const onAbort = () => void handle.cancel().catch(() => undefined);
  signal.addEventListener('abort', onAbort, { once: true });
  if (signal.aborted) onAbort();
  try {
    return (await handle.result()) as T;
  } catch (err) {
    if (signal.aborted) throw new Error('Interrupted: the run was cancelled and its containers and volumes removed.');
    if (err instanceof WorkflowFailedError) {
      const cause = err.cause as { message?: string; cause?: { message?: string } } | undefined;
      throw new Error(`${what} failed: ${cause?.cause?.message ?? cause?.message ?? err.message}`);
    }
    throw err;
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}
