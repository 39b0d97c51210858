/**
 * The one-command demo: three (or more) registries compute the sum of their counts with the ring
 * secure sum, on one machine, and the researcher opens the total. By default everything goes
 * through the Parley API, as in a deployment: organisations and keys are registered there, sites
 * fetch and pin each other's keys from it, the researcher starts the run and fetches the sealed
 * result through it. Everything the demo creates — containers, volumes, the dev server, the
 * workers, the API, its temporary state — it removes, also when interrupted.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import type { OrgId } from '../common/ids.ts';
import { removeRunVolumes } from '../activities/sandbox/run-volume.ts';
import type { SecureSumResult, StepReport } from '../workflows/index.ts';
import { startCentralServer } from './central-server.ts';
import { registerFederation } from './demo-api-setup.ts';
import { COUNT_DATASET, createFederation, siteDepsOf } from './demo-federation.ts';
import { startTemporalDevServer } from './dev/temporal-dev-server.ts';
import { startLocalCluster } from './local-cluster.ts';
import { prepareMachine } from './provision/prepare-machine.ts';
import { DEFAULT_MODULUS, openSecureSumResult, startSecureSum } from './researcher.ts';

export interface DemoOptions {
  /** Each site's count, in ring order. */
  counts: bigint[];
  /** Keep keys and datasets here; a temporary directory (removed afterwards) when absent. */
  stateDir?: string;
  /** Through the Parley API (default), or straight to Temporal with a file directory of keys. */
  viaApi?: boolean;
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
  apiUrl?: string;
  /** From starting the run to the opened result. */
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
  const viaApi = options.viaApi ?? true;
  const sites = demoSiteNames(options.counts.length);
  const machine = await prepareMachine(progress, options.env ?? process.env);
  signal.throwIfAborted();

  const stateDir = options.stateDir ?? (await mkdtemp(join(tmpdir(), 'parley-demo-')));
  // Undone in reverse order of creation: the run's resources, workers, API, server, state.
  const cleanups: Array<() => Promise<unknown>> = [];
  if (!options.stateDir) cleanups.unshift(() => rm(stateDir, { recursive: true, force: true }));
  try {
    let address = machine.temporalAddress;
    if (!address) {
      progress('Starting a Temporal dev server…');
      const server = await startTemporalDevServer({ executable: machine.temporalCli! });
      cleanups.unshift(() => server.stop());
      address = server.address;
      progress(`Temporal dev server at ${address}`);
    }
    const connection = await Connection.connect({ address });
    cleanups.unshift(() => connection.close());
    const temporal = new Client({ connection });

    const federation = await createFederation({
      stateDir,
      counts: new Map(sites.map((org, i) => [org, options.counts[i]!])),
      requester: DEMO_REQUESTER,
    });
    progress(`Organisations: ${sites.join(', ')} and ${DEMO_REQUESTER} (keys in ${stateDir}, private keys 0600)`);

    let registered: Awaited<ReturnType<typeof registerFederation>> | undefined;
    let apiUrl: string | undefined;
    if (viaApi) {
      // A temporary demo keeps its database in memory (PGlite's first start on disk costs seconds
      // more); with --state-dir it is kept there, as `parley server start` keeps it.
      const central = await startCentralServer({ stateDir: join(stateDir, 'server'), inMemory: !options.stateDir, temporal, quiet: true });
      cleanups.unshift(() => central.close());
      apiUrl = central.url;
      progress(`Parley API at ${central.url} (PGlite ${options.stateDir ? `in ${join(stateDir, 'server')}` : 'in memory'})`);
      registered = await registerFederation(central.url, { username: central.admin.username, password: central.admin.password! }, federation);
      progress('Registered organisations, public keys, the researcher, a collaboration and one site credential per registry');
    }

    const allowed = [machine.images.secureSum];
    const cluster = await startLocalCluster({
      temporalAddress: address,
      sites: federation.sites.map((site) => siteDepsOf(site, federation, machine.docker, allowed, registered?.siteDirectories.get(site.org))),
      progress,
    });
    cleanups.unshift(() => cluster.shutdown());
    signal.throwIfAborted();

    const runStarted = performance.now();
    const input = { participants: sites, requester: DEMO_REQUESTER, dataset: COUNT_DATASET, modulus: DEFAULT_MODULUS, image: machine.images.secureSum };
    const workflowId = registered
      ? (await registered.researcher.startRun({ collaborationId: registered.collaborationId, participants: sites, modulus: input.modulus, dataset: input.dataset, image: input.image })).id
      : (await startSecureSum(cluster.client, input)).workflowId;
    // Belt and braces: whatever the workflow's own cleanup did, nothing of this run survives us.
    cleanups.unshift(() => Promise.all(sites.map((org) => removeRunVolumes(machine.docker, { runId: workflowId, org }))));
    progress(`Ring secure sum started${registered ? ' through the API' : ''}: workflow ${workflowId}`);

    let total: bigint;
    let outcome: SecureSumResult;
    if (registered) {
      // The researcher waits through the API (its long poll); the operator's view of the same
      // run, for the per-step timings, is awaited alongside.
      const api = registered.researcher;
      const [sealed, operatorView] = await Promise.all([
        // A run that did not complete has no result: the operator's view says why.
        waitThroughApi(api, workflowId).then((status) => (status === 'completed' ? api.runResult(workflowId) : undefined)),
        outcomeOrCancel(temporal, workflowId, signal),
      ]);
      outcome = operatorView;
      if (!sealed) throw new Error(`The API reports run ${workflowId} as not completed, though Temporal says it completed.`);
      total = await openSecureSumResult({ ...outcome, result: sealed.envelope }, federation.requester, registered.researcherDirectory, sites[0]!);
    } else {
      outcome = await outcomeOrCancel(temporal, workflowId, signal);
      total = await openSecureSumResult(outcome, federation.requester, federation.directory, sites[0]!);
    }
    const runMs = performance.now() - runStarted;
    return {
      result: total,
      plainSum: options.counts.reduce((a, b) => a + b, 0n),
      workflowId,
      sites,
      requester: DEMO_REQUESTER,
      steps: outcome.steps,
      ...(apiUrl ? { apiUrl } : {}),
      runMs,
      totalMs: performance.now() - started,
    };
  } finally {
    for (const cleanup of cleanups) await cleanup().catch((err) => progress(`cleanup: ${(err as Error).message}`));
  }
}

/** The API's view of the run, waited on with its long poll until the run has ended. */
async function waitThroughApi(api: NonNullable<Awaited<ReturnType<typeof registerFederation>>>['researcher'], runId: string): Promise<string> {
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
async function outcomeOrCancel(temporal: Client, workflowId: string, signal: AbortSignal): Promise<SecureSumResult> {
  const handle = temporal.workflow.getHandle(workflowId);
  const onAbort = () => void handle.cancel().catch(() => undefined);
  signal.addEventListener('abort', onAbort, { once: true });
  if (signal.aborted) onAbort();
  try {
    return (await handle.result()) as SecureSumResult;
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
