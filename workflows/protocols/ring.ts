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

  let step = `${stepPrefix}ring.0.start`;
  let outcome = await runStep({ org: initiator, step, args: { role: 'start', next: participants[1]! }, inputs: [], last: false });
  for (let i = 1; i <= n; i++) {
    const org = i < n ? participants[i]! : initiator;
    const from = outcome.org;
    const envelope = onlyEnvelopeFor(outcome, org);
    const previous = step;
    step = i < n ? `${stepPrefix}ring.${i}.add` : `${stepPrefix}ring.${i}.finish`;
    const args: ProtocolCall['args'] = i < n ? { role: 'add', next: participants[(i + 1) % n]! } : { role: 'finish' };
    // The initiator's finish is its last step: it removes its own volume as it ends, so the
    // run's end does not wait for another round trip to it.
    outcome = await runStep({ org, step, args, inputs: [{ envelope, fromStep: previous, from }], last: i === n });
    if (i < n) run.onSiteDone?.(org);
  }
  if (!outcome.output) throw protocolFailure(outcome, `ended without sealing a result for "${requester}"`);
  return { output: outcome.output, step, org: initiator };
}

function onlyEnvelopeFor(outcome: StepOutcome, org: string): SealedMessage {
  const matching = outcome.envelopes.filter((e) => e.binding.to.length === 1 && e.binding.to[0] === org);
  if (matching.length !== 1 || outcome.envelopes.length !== 1) {
    throw protocolFailure(outcome, `sent ${outcome.envelopes.length} message(s); the ring expects exactly one, to "${org}"`);
  }
  return matching[0]!;
}
