/**
 * The data scientist's side: start a secure sum and open its sealed result with the
 * researcher's own key. Only this side ever sees the total.
 */
import { randomUUID } from 'node:crypto';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { COORDINATOR_TASK_QUEUE, type OrgId } from '../common/ids.ts';
import { ErrorCode, ParleyError } from '../common/errors.ts';
import { createMemoryReplayGuard, openEnvelope, type OrgKeys } from '../crypto/index.ts';
import type { KeyDirectory } from '../activities/key-directory.ts';
import type { SecureSumInput, SecureSumResult } from '../workflows/index.ts';

/** A public modulus comfortably above any count: 2^64. */
export const DEFAULT_MODULUS = (1n << 64n).toString();

/** Starts the ring secure sum; the workflow id is the run id. */
export async function startSecureSum(client: Client, input: SecureSumInput, workflowId = `secure-sum-${randomUUID()}`): Promise<WorkflowHandle> {
  return client.workflow.start('secureSumRingWorkflow', {
    taskQueue: COORDINATOR_TASK_QUEUE,
    workflowId,
    args: [input],
    // A run is one attempt: a failed step fails the run rather than silently starting over.
    workflowExecutionTimeout: '1 hour',
  });
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
