/**
 * Takes the sealed outputs out of what the chain workflow returned (a ChainResult) and checks
 * each is what the API may keep: a well-formed envelope bound to this run and sealed for the
 * requester. One bad output refuses them all, since the database must never hold plaintext.
 */
import type { ChainOutput } from '../../common/chain.ts';
import { SealedResultError, sealedResultOf } from './sealed-result.ts';

/**
 * The chain result's outputs, each checked.
 * @throws SealedResultError when there is no outputs list, or any output is not acceptable.
 */
export function sealedChainOutputsOf(returned: unknown, runId: string, requester: string): ChainOutput[] {
  const outputs = typeof returned === 'object' && returned !== null ? (returned as { outputs?: unknown }).outputs : undefined;
  if (!Array.isArray(outputs)) throw new SealedResultError(runId, 'no list of outputs');
  return outputs.map((output: unknown) => {
    if (typeof output !== 'object' || output === null) throw new SealedResultError(runId, 'an output that is not an object');
    const { step, boundStep, org, envelope } = output as Partial<ChainOutput>;
    if (typeof step !== 'string' || typeof boundStep !== 'string' || typeof org !== 'string') throw new SealedResultError(runId, 'an output without its step or site');
    const sealed = sealedResultOf(envelope, runId, requester);
    if (sealed.binding.step !== boundStep || sealed.binding.from !== org) throw new SealedResultError(runId, 'an output whose envelope is bound elsewhere');
    return { step, boundStep, org, envelope: sealed };
  });
}
