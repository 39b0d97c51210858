/**
 * A stand-in for the coordinator's `secureSumRingWorkflow`, run by a real Temporal worker in the
 * API's tests: it accepts the same input and finishes when the test says how (no Docker, no
 * sites). It runs in its own namespace so it never takes tasks meant for the real coordinator.
 */
import { ApplicationFailure, condition, defineSignal, setHandler, workflowInfo } from '@temporalio/workflow';

/** Ends the stub run: with `result` as the workflow's sealed result, or failing with `failure`. */
export const finishSignal = defineSignal<[{ result?: unknown; failure?: string }]>('finish');

export async function secureSumRingWorkflow(input: unknown): Promise<unknown> {
  let outcome: { result?: unknown; failure?: string } | undefined;
  setHandler(finishSignal, (value) => {
    outcome = value;
  });
  await condition(() => outcome !== undefined);
  if (outcome!.failure !== undefined) throw ApplicationFailure.nonRetryable(outcome!.failure, 'ERR_STEP_FAILED');
  return { runId: workflowInfo().workflowId, protocol: 'ring', result: outcome!.result, input };
}
