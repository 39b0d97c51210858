/**
 * Takes the sealed total out of what the ring workflow returned and checks it is what the API may
 * keep: a well-formed envelope (ciphertext and routing metadata only) bound to this run and sealed
 * for the requester. Anything else is refused rather than stored, since the database must never
 * hold a plaintext result.
 */
import type { Envelope } from '../../common/envelope.ts';
import { inspectEnvelope } from '../../crypto/index.ts';

/** Why a workflow's return value was not accepted as a sealed result. */
export class SealedResultError extends Error {
  constructor(readonly runId: string, readonly reason: string) {
    super(`The workflow of run ${runId} returned no acceptable sealed result (${reason}).`);
    this.name = 'SealedResultError';
  }
}

/**
 * The envelope in a workflow's return value: the value itself, or its `result` member (the ring
 * workflow returns `{ runId, protocol, result: Envelope, ... }`).
 *
 * @throws SealedResultError when there is no envelope, it is malformed, or it belongs elsewhere.
 */
export function sealedResultOf(returned: unknown, runId: string, requester: string): Envelope {
  const candidate = typeof returned === 'object' && returned !== null && 'result' in returned
    ? (returned as { result: unknown }).result
    : returned;
  try {
    inspectEnvelope(candidate);
  } catch {
    throw new SealedResultError(runId, 'not a well-formed envelope');
  }
  const envelope = candidate as Envelope;
  if (envelope.binding.runId !== runId) throw new SealedResultError(runId, 'bound to another run');
  if (!envelope.binding.to.includes(requester)) throw new SealedResultError(runId, 'not sealed for the requester');
  return envelope;
}
