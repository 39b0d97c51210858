/**
 * The ring secure sum's steps (the protocol and why it is private: workflows/secure-sum-ring.ts).
 * Step ids: `<prefix>ring.0.start` at the initiator, `<prefix>ring.<i>.add` at the i-th site,
 * `<prefix>ring.<n>.finish` back at the initiator, which seals the total for the requester.
 */
import type { SealedMessage } from '../../common/envelope.ts';
import type { StepOutcome } from '../../activities/types.ts';
import { protocolFailure } from './protocol-failure.ts';
import type { ProtocolCall, ProtocolResult, ProtocolRun } from './protocol-run.ts';

export async function runRingProtocol(run: ProtocolRun): Promise<ProtocolResult> {
  const { participants, requester, stepPrefix, runStep } = run;
  const n = participants.length;
  const initiator = participants[0]!;
  // Step i of the ring, 0 … n: everything about it but the envelope it reads.
  const stepAt = (i: number): Omit<ProtocolCall, 'inputs'> => ({
    org: i === 0 || i === n ? initiator : participants[i]!,
    step: i === 0 ? `${stepPrefix}ring.0.start` : i < n ? `${stepPrefix}ring.${i}.add` : `${stepPrefix}ring.${i}.finish`,
    args: i === 0 ? { role: 'start', next: participants[1]! } : i < n ? { role: 'add', next: participants[(i + 1) % n]! } : { role: 'finish' },
    // The initiator's finish is its last step: it removes its own volume as it ends, so the
    // run's end does not wait for another round trip to it.
    last: i === n,
  });

  let call: ProtocolCall = { ...stepAt(0), inputs: [] };
  for (let i = 0; ; i++) {
    const running = runStep(call);
    // While this step runs, the next site creates the next step's container: the ring then
    // waits only for that container's start, not for its image check, volume and create.
    if (i < n) run.prepareStep?.({ ...stepAt(i + 1), inputs: [{ fromStep: call.step, from: call.org }] });
    const outcome = await running;
    if (i > 0 && i < n) run.onSiteDone?.(call.org);
    if (i === n) {
      if (!outcome.output) throw protocolFailure(outcome, `ended without sealing a result for "${requester}"`);
      return { output: outcome.output, step: call.step, org: initiator };
    }
    const next = stepAt(i + 1);
    call = { ...next, inputs: [{ envelope: onlyEnvelopeFor(outcome, next.org), fromStep: call.step, from: outcome.org }] };
  }
}

function onlyEnvelopeFor(outcome: StepOutcome, org: string): SealedMessage {
  const matching = outcome.envelopes.filter((e) => e.binding.to.length === 1 && e.binding.to[0] === org);
  if (matching.length !== 1 || outcome.envelopes.length !== 1) {
    throw protocolFailure(outcome, `sent ${outcome.envelopes.length} message(s); the ring expects exactly one, to "${org}"`);
  }
  return matching[0]!;
}
