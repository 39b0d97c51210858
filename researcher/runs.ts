/**
 * The data scientist's side: start a secure sum and open its sealed result with the
 * researcher's own key. Only this side ever sees the total.
 */
import { randomUUID } from 'node:crypto';
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { OrgId } from '../common/ids.ts';
import { COORDINATOR_TASK_QUEUE, RUN_EXECUTION_TIMEOUT, WorkflowName } from '../common/workflow-names.ts';
import { ErrorCode, ParleyError } from '../common/errors.ts';
import { createMemoryReplayGuard, openEnvelope, type OrgKeys } from '../crypto/index.ts';
import type { KeyDirectory } from '../activities/key-directory.ts';
import type { SecureSumInput, SecureSumResult } from '../workflows/index.ts';
import type { ChainOutput, ChainResult, ChainRunInput } from '../common/chain.ts';

/** A public modulus comfortably above any count: 2^64. */
export const DEFAULT_MODULUS = (1n << 64n).toString();

/** Starts `workflow` on the coordinator with `input`; the workflow id is the run id. */
function startRun(client: Client, workflow: WorkflowName, workflowId: string, input: unknown): Promise<WorkflowHandle> {
  return client.workflow.start(workflow, {
    taskQueue: COORDINATOR_TASK_QUEUE,
    workflowId,
    args: [input],
    workflowExecutionTimeout: RUN_EXECUTION_TIMEOUT,
  });
}

/** Starts the ring secure sum; the workflow id is the run id. */
export async function startSecureSum(client: Client, input: SecureSumInput, workflowId = `secure-sum-${randomUUID()}`): Promise<WorkflowHandle> {
  return startRun(client, WorkflowName.SecureSumRing, workflowId, input);
}

/** Starts the secure sum by additive shares (same input and result as the ring). */
export async function startSecureSumAdditive(client: Client, input: SecureSumInput, workflowId = `secure-sum-additive-${randomUUID()}`): Promise<WorkflowHandle> {
  return startRun(client, WorkflowName.SecureSumAdditive, workflowId, input);
}

/**
 * Opens the sealed total with the requester's private key, checking that the initiator sealed
 * it at the run's final step. Throws the envelope's ParleyError when it does not open.
 */
export async function openSecureSumResult(
  result: SecureSumResult,
  requester: { org: OrgId; keys: OrgKeys },
  directory: KeyDirectory,
  initiator: OrgId,
): Promise<bigint> {
  const { binding, body } = await openEnvelope(result.result, {
    expect: { runId: result.runId, step: result.resultStep, recipient: requester.org },
    receiveKey: requester.keys.receive.privateJwk,
    senderSigningKey: async (org) => (await directory.publicKeys(org))?.sign.jwk,
    replayGuard: createMemoryReplayGuard(),
  });
  if (binding.from !== initiator) {
    throw new ParleyError(ErrorCode.EnvelopeBinding, `The result was sealed by "${binding.from}", not by the initiator "${initiator}".`, { runId: result.runId });
  }
  const parsed = JSON.parse(new TextDecoder().decode(body)) as { total?: unknown };
  if (typeof parsed.total !== 'string' || !/^[0-9]+$/.test(parsed.total)) {
    throw new ParleyError(ErrorCode.StepProtocol, 'The result envelope opened but does not hold a total.', { runId: result.runId });
  }
  return BigInt(parsed.total);
}

/** Starts a chain straight on Temporal (the API does the same after its checks). */
export async function startChain(client: Client, input: ChainRunInput, workflowId = `chain-${randomUUID()}`): Promise<WorkflowHandle> {
  return startRun(client, WorkflowName.Chain, workflowId, input);
}

/** One output of a chain, opened: the JSON its step wrote with `output()`. */
export interface OpenedChainOutput {
  step: string;
  boundStep: string;
  org: OrgId;
  content: unknown;
}

/**
 * Opens every output of a chain run with the requester's private key. Each must be sealed by the
 * site the run says produced it, at the step it says, for the requester: anything else is refused
 * with the envelope's ParleyError, and nothing is returned.
 */
export async function openChainOutputs(
  result: Pick<ChainResult, 'runId' | 'outputs'>,
  requester: { org: OrgId; keys: OrgKeys },
  directory: KeyDirectory,
): Promise<OpenedChainOutput[]> {
  // One guard for the whole result: the same envelope twice is a replay.
  const replayGuard = createMemoryReplayGuard();
  const opened: OpenedChainOutput[] = [];
  for (const output of result.outputs) opened.push(await openChainOutput(result.runId, output, requester, directory, replayGuard));
  return opened;
}

async function openChainOutput(
  runId: string,
  output: ChainOutput,
  requester: { org: OrgId; keys: OrgKeys },
  directory: KeyDirectory,
  replayGuard: ReturnType<typeof createMemoryReplayGuard>,
): Promise<OpenedChainOutput> {
  const { binding, body } = await openEnvelope(output.envelope, {
    expect: { runId, step: output.boundStep, recipient: requester.org },
    receiveKey: requester.keys.receive.privateJwk,
    senderSigningKey: async (org) => (await directory.publicKeys(org))?.sign.jwk,
    replayGuard,
  });
  if (binding.from !== output.org) {
    throw new ParleyError(ErrorCode.EnvelopeBinding, `An output of step "${output.step}" was sealed by "${binding.from}", not by "${output.org}" as the run says.`, { runId });
  }
  let content: unknown;
  try {
    content = JSON.parse(new TextDecoder().decode(body));
  } catch {
    throw new ParleyError(ErrorCode.StepProtocol, `The output of step "${output.step}" at "${output.org}" opened but is not JSON.`, { runId });
  }
  return { step: output.step, boundStep: output.boundStep, org: output.org, content };
}
