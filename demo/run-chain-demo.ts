/**
 * `parley demo --chain [FILE]`: a chain over three (to five) registries on one machine — the
 * example chain (examples/chains/cohort-mean.yaml) unless the data scientist gives their own, to
 * try it before sending it to real sites. Each registry holds its own copy of an example patient
 * registry (examples/data/) as the dataset `patients`; the example chain preprocesses and
 * analyses it at each site and a secure sum gives the researcher the cohort's count, mean,
 * variance, standard deviation and histogram of the lab value. Every output is opened with the
 * researcher's key and read per step (researcher/chain-result.ts). By default through the Parley
 * API, as in a deployment; everything the run created is removed afterwards, and with a kept
 * state directory the sites' state stays for the next demo.
 */
import { performance } from 'node:perf_hooks';
import type { ChainFile } from '../chains/index.ts';
import type { ChainOutput, ChainResult, ChainStepReport } from '../common/chain.ts';
import { ErrorCode, ParleyError } from '../common/errors.ts';
import type { OrgId } from '../common/ids.ts';
import { removeRunVolumes } from '../activities/sandbox/run-volume.ts';
import { readChainOutputs, statisticsOf, type ReadChainOutput } from '../researcher/chain-result.ts';
import { prepareMachine } from '../provision/prepare-machine.ts';
import { readDemoState } from './demo-state.ts';
import { startDemoEnvironment, type DemoRunOptions, type KeyFingerprints } from './environment.ts';
import { EXAMPLE_CHAIN_FILE, exampleAllowList, exampleRegistryFile, pinForDemo, readChainFile } from './example-chain.ts';
import { asAnalysisImage } from '../activities/site-policy.ts';
import { DEMO_REQUESTER, demoSiteNames, outcomeOrCancel, waitThroughApi } from './run-demo.ts';
import { openChainOutputs, startChain, startChainThroughApi } from '../researcher/runs.ts';
import type { Statistics } from '../researcher/statistics.ts';

/** The example registries there are: examples/data/registry-a.csv … registry-e.csv. */
export const MAX_CHAIN_DEMO_SITES = 5;
/** The dataset name the example chain reads. */
const PATIENTS_DATASET = 'patients';

export interface ChainDemoOptions extends DemoRunOptions {
  /** 3 to 5 registries; when absent, the chain's own `sites` if they are demo registries, else 3. */
  sites?: number;
  /** The chain, read and validated (cli/lib/chain-file.ts); the example chain when absent. */
  chain?: { file: ChainFile; fileName: string };
  /**
   * Sites of the demo's own choosing, each with its datasets (name → CSV file), instead of the
   * example registries' `patients`: `parley demo --vertical` (demo/vertical-demo.ts).
   */
  cast?: { sites: OrgId[]; files: ReadonlyMap<OrgId, Readonly<Record<string, string>>> };
}

export interface ChainDemoReport {
  chain: string;
  workflowId: string;
  /** The chain file it ran. */
  chainFile: string;
  sites: OrgId[];
  requester: OrgId;
  /** Every organisation's key fingerprints: equal across demos that keep one state directory. */
  fingerprints: KeyFingerprints[];
  /** True when the state directory was kept from an earlier demo. */
  reusedState: boolean;
  /** Every output, opened with the researcher's key and read per step. */
  outputs: ReadChainOutput[];
  /** The result's statistics, when the chain ends in a secure sum over statistics values. */
  statistics?: Statistics;
  steps: ChainStepReport[];
  apiUrl?: string;
  runMs: number;
  totalMs: number;
}

/** A demo registry's name (registry-a … registry-e): the sites a chain file may name for the demo. */
const DEMO_REGISTRY = /^registry-[a-e]$/;

/**
 * Who takes part: `sites` registries when given; else the chain's own `sites` when each is a
 * demo registry (so a chain written for the demo runs where it says); else three.
 */
function participantsOf(file: ChainFile, sites: number | undefined): OrgId[] {
  if (sites !== undefined) return demoSiteNames(sites);
  const own = file.sites;
  if (own !== undefined && own.length >= 3 && own.length <= MAX_CHAIN_DEMO_SITES && own.every((s) => DEMO_REGISTRY.test(s)) && new Set(own).size === own.length) return [...own];
  return demoSiteNames(3);
}

/**
 * Runs the chain demo end to end and returns its report.
 * @throws ChainCannotRunError (before any server or worker starts) when the chain cannot run on
 * the demo's registries; ParleyError InvalidInput for a foreign or damaged state directory; any
 * other failure after cleaning up.
 */
export async function runChainDemo(options: ChainDemoOptions): Promise<ChainDemoReport> {
  const started = performance.now();
  const progress = options.progress ?? (() => {});
  const signal = options.signal ?? new AbortController().signal;
  if (options.sites !== undefined && (options.sites < 3 || options.sites > MAX_CHAIN_DEMO_SITES)) {
    throw new ParleyError(ErrorCode.InvalidInput, `The chain demo runs over 3 to ${MAX_CHAIN_DEMO_SITES} registries (one example registry each); got ${options.sites}.`);
  }
  // Read before anything starts: a bad chain stops the demo before any provisioning.
  const { file, fileName } = options.chain ?? { file: await readChainFile(EXAMPLE_CHAIN_FILE), fileName: EXAMPLE_CHAIN_FILE };
  const sites = options.cast?.sites ?? participantsOf(file, options.sites);
  // So does a foreign or damaged state directory (startDemoEnvironment reads it again, cheaply).
  if (options.stateDir) await readDemoState(options.stateDir);
  const machine = await prepareMachine(progress, options.env ?? process.env);
  signal.throwIfAborted();
  // The researcher pins each image the chain names by its digest on this machine's engine, before
  // any server or worker starts: a chain that cannot run here stops the demo with nothing to undo.
  const { spec: chain, ownImages } = await pinForDemo(file, machine.images, machine.docker, { participants: sites, fileName });
  for (const image of ownImages) progress(`The demo's sites allow the chain's own image ${image.name}@${image.digest} (from this machine's engine); real sites run only what their operators allow.`);
  const env = await startDemoEnvironment({
    ...options,
    machine,
    sites,
    requester: DEMO_REQUESTER,
    // Each registry holds the example registry of its own letter: registry-c holds registry-c.csv.
    files: options.cast?.files ?? new Map(sites.map((org) => [org, { [PATIENTS_DATASET]: exampleRegistryFile(org.slice(-1)) }])),
    // The chain's own images as analysis steps that may release their output: this is a try-out.
    allowed: (images) => [...exampleAllowList(images), ...ownImages.map((image) => asAnalysisImage(image, true))],
    signal,
    progress,
  });
  try {
    const { federation, cluster, api, temporal } = env;

    const runStarted = performance.now();
    const workflowId = api
      ? (await startChainThroughApi(api.researcher, env.signer, { chain, participants: sites })).id
      : (await startChain(cluster.client, { chain, participants: sites, requester: DEMO_REQUESTER, signer: env.signer })).workflowId;
    env.onClose(() => Promise.all(sites.map((org) => removeRunVolumes(machine.docker, { runId: workflowId, org }))));
    progress(`Chain "${chain.name}" started${api ? ' through the API' : ''}: workflow ${workflowId} (${chain.steps.map((s) => s.id).join(' → ')})`);

    let outcome: ChainResult;
    let outputs: ChainOutput[];
    if (api) {
      const [sealed, operatorView] = await Promise.all([
        waitThroughApi(api.researcher, workflowId).then((status) => (status === 'completed' ? api.researcher.chainRunResult(workflowId) : undefined)),
        outcomeOrCancel<ChainResult>(temporal, workflowId, signal, `The chain "${chain.name}"`),
      ]);
      outcome = operatorView;
      if (!sealed || !('outputs' in sealed)) throw new Error(`The API has no chain outputs for run ${workflowId}, though Temporal says it completed.`);
      outputs = sealed.outputs;
    } else {
      outcome = await outcomeOrCancel<ChainResult>(temporal, workflowId, signal, `The chain "${chain.name}"`);
      outputs = outcome.outputs;
    }
    const opened = await openChainOutputs({ runId: workflowId, outputs }, federation.requester, env.researcherDirectory);
    const read = readChainOutputs(chain, opened);
    const statistics = statisticsOf(read);
    return {
      chain: chain.name,
      chainFile: fileName,
      workflowId,
      sites,
      requester: DEMO_REQUESTER,
      fingerprints: env.fingerprints,
      reusedState: env.reused,
      outputs: read,
      ...(statistics ? { statistics } : {}),
      steps: outcome.steps,
      ...(api ? { apiUrl: api.url } : {}),
      runMs: performance.now() - runStarted,
      totalMs: performance.now() - started,
    };
  } finally {
    await env.close();
  }
}
