/**
 * A stand-in for the coordinator's `chainWorkflow`, run by a real Temporal worker in the API's
 * tests: it accepts the same input, runs one `runStep` activity per container step and site (in
 * chain order; the test's worker decides when each ends), then finishes when the test says how.
 * No Docker, no sites: what the API reads from the history — activity inputs naming `step` and
 * `org` — is there as the real workflow writes it.
 */
import { ApplicationFailure, condition, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { ChainRunInput } from '../../common/chain.ts';
import { finishSignal } from './stub-ring-workflow.ts';

/** The stub's one activity: a site step, ended by the test. */
export interface StubChainActivities {
  runStep(input: { runId: string; step: string; org: string }): Promise<void>;
}

const { runStep } = proxyActivities<StubChainActivities>({
  startToCloseTimeout: '1 minute',
  // One attempt, as the real chain's steps: a failed step fails the run.
  retry: { maximumAttempts: 1 },
});

export async function chainWorkflow(input: ChainRunInput): Promise<unknown> {
  let outcome: { result?: unknown; failure?: string } | undefined;
  setHandler(finishSignal, (value) => {
    outcome = value;
  });
  const { workflowId: runId } = workflowInfo();
  for (const step of input.chain.steps) {
    if (step.kind !== 'container') continue;
    await Promise.all((step.at ?? input.participants).map((org) => runStep({ runId, step: step.id, org })));
  }
  await condition(() => outcome !== undefined);
  if (outcome!.failure !== undefined) throw ApplicationFailure.nonRetryable(outcome!.failure, 'ERR_STEP_FAILED');
  return outcome!.result;
}
