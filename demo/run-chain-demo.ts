/**
 * `parley demo --chain`: the example chain (examples/chains/cohort-mean.yaml) over three (to five)
 * registries on one machine. Each registry holds its own copy of an example patient registry
 * (examples/data/); the chain preprocesses and analyses it at each site and a secure sum gives the
 * researcher the cohort's count, mean, variance, standard deviation and histogram of the lab
 * value. By default through the Parley API, as in a deployment; everything is removed afterwards.
 */
import { performance } from 'node:perf_hooks';
import type { ChainOutput, ChainResult, ChainStepReport } from '../common/chain.ts';
import { ErrorCode, ParleyError } from '../common/errors.ts';
import type { OrgId } from '../common/ids.ts';
import { removeRunVolumes } from '../activities/sandbox/run-volume.ts';
import { readChainOutputs, statisticsOf, type ReadChainOutput } from '../researcher/chain-result.ts';
import { startDemoEnvironment, type DemoRunOptions } from './environment.ts';
import { EXAMPLE_CHAIN_FILE, exampleAllowList, exampleRegistryFile, pinToExampleImages, readChainFile } from './example-chain.ts';
import { DEMO_REQUESTER, demoSiteNames, outcomeOrCancel, waitThroughApi } from './run-demo.ts';
import { openChainOutputs, startChain, startChainThroughApi } from '../researcher/runs.ts';
import type { Statistics } from '../researcher/statistics.ts';

/** The example registries there are: examples/data/registry-a.csv … registry-e.csv. */
export const MAX_CHAIN_DEMO_SITES = 5;
/** The dataset name the example chain reads. */
const PATIENTS_DATASET = 'patients';

export interface ChainDemoOptions extends DemoRunOptions {
  sites: number;
  chainFile?: string;
}

export interface ChainDemoReport {
  chain: string;
  workflowId: string;
  sites: OrgId[];
  requester: OrgId;
  outputs: ReadChainOutput[];
  /** The result's statistics, when the chain ends in a secure sum over statistics values. */
  statistics?: Statistics;
  steps: ChainStepReport[];
  apiUrl?: string;
  runMs: number;
  totalMs: number;
}


export async function runChainDemo(options: ChainDemoOptions): Promise<ChainDemoReport> {
  const started = performance.now();
  const progress = options.progress ?? (() => {});
  const signal = options.signal ?? new AbortController().signal;
  if (options.sites < 3 || options.sites > MAX_CHAIN_DEMO_SITES) {
    throw new ParleyError(ErrorCode.InvalidInput, `The chain demo runs over 3 to ${MAX_CHAIN_DEMO_SITES} registries (one example registry each); got ${options.sites}.`);
  }
  const chainFile = options.chainFile ?? EXAMPLE_CHAIN_FILE;
  // Read before anything starts: a bad chain stops the demo before any provisioning.
  const file = await readChainFile(chainFile);
  const sites = demoSiteNames(options.sites);
  const env = await startDemoEnvironment({
    ...options,
    sites,
    requester: DEMO_REQUESTER,
    files: new Map(sites.map((org, i) => [org, { [PATIENTS_DATASET]: exampleRegistryFile(String.fromCharCode(97 + i)) }])),
    allowed: exampleAllowList,
    signal,
    progress,
  });
  try {
    const { machine, federation, cluster, api, temporal } = env;
    // The researcher pins each image the chain names by its digest on this machine's engine.
    const chain = await pinToExampleImages(file, machine.images, { participants: sites, file: chainFile });

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
      workflowId,
      sites,
      requester: DEMO_REQUESTER,
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
