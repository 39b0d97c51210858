/**
 * The additive-share secure sum's steps (the protocol and why it is private:
 * workflows/secure-sum-additive.ts). Step ids: `<prefix>additive.0.share` and
 * `<prefix>additive.1.sum` at every site, `<prefix>additive.2.combine` at the aggregator, the
 * first participant, which seals the total for the requester.
 */
import type { SealedMessage } from '../../common/envelope.ts';
import type { OrgId } from '../../common/ids.ts';
import type { StepInputEnvelope, StepOutcome } from '../../activities/types.ts';
import { settleAll } from '../settle-all.ts';
import { protocolFailure, sentSummary } from './protocol-failure.ts';
import type { ProtocolCall, ProtocolResult, ProtocolRun } from './protocol-run.ts';

export async function runAdditiveProtocol(run: ProtocolRun): Promise<ProtocolResult> {
  const { participants, requester, stepPrefix } = run;
  const step = { share: `${stepPrefix}additive.0.share`, sum: `${stepPrefix}additive.1.sum`, combine: `${stepPrefix}additive.2.combine` };
  const aggregator = participants[0]!;
  const args = (role: string) => ({ role, aggregator });

  const shared = await runAll(run, participants.map((org) => ({ org, step: step.share, args: args('share'), inputs: [], last: false })));
  const toEach = shared.map((outcome) => oneEnvelopeForEachOther(outcome, participants));

  const summed = await runAll(run, participants.map((org) => ({
    org,
    step: step.sum,
    args: args('sum'),
    inputs: participants.flatMap((from, i) => (from === org ? [] : [{ envelope: toEach[i]!.get(org)!, fromStep: step.share, from }])),
    last: org !== aggregator,
  })));
  const partials: StepInputEnvelope[] = [];
  summed.forEach((outcome) => {
    if (outcome.org === aggregator) {
      if (outcome.envelopes.length > 0 || outcome.output) throw protocolFailure(outcome, 'sent a message or an output; the aggregator keeps its own partial sum in its run volume');
    } else {
      partials.push({ envelope: onlyEnvelopeFor(outcome, aggregator), fromStep: step.sum, from: outcome.org });
    }
  });

  const [combined] = await runAll(run, [{ org: aggregator, step: step.combine, args: args('combine'), inputs: partials, last: true }]);
  if (!combined?.output || combined.envelopes.length > 0) {
    throw protocolFailure({ step: step.combine, org: aggregator }, `did not seal exactly one result, for "${requester}", and nothing else`);
  }
  return { output: combined.output, step: step.combine, org: aggregator };
}

/** Runs one protocol step at several sites in parallel; outcomes follow the order of `calls`. */
function runAll(run: ProtocolRun, calls: ProtocolCall[]): Promise<StepOutcome[]> {
  return settleAll(calls.map((call) => run.runStep(call)));
}

/** The share step's n − 1 envelopes by recipient: exactly one for each other participant. */
function oneEnvelopeForEachOther(outcome: StepOutcome, participants: OrgId[]): Map<OrgId, SealedMessage> {
  const others = participants.filter((p) => p !== outcome.org);
  const byRecipient = new Map<OrgId, SealedMessage>();
  for (const envelope of outcome.envelopes) {
    const [to] = envelope.binding.to;
    if (envelope.binding.to.length === 1 && to !== undefined && others.includes(to) && !byRecipient.has(to)) byRecipient.set(to, envelope);
  }
  if (byRecipient.size !== others.length || outcome.envelopes.length !== others.length || outcome.output) {
    throw protocolFailure(outcome, `${sentSummary(outcome)}; the share step expects exactly one to each of the ${others.length} other participants`);
  }
  return byRecipient;
}

function onlyEnvelopeFor(outcome: StepOutcome, org: OrgId): SealedMessage {
  const [envelope] = outcome.envelopes;
  if (outcome.envelopes.length !== 1 || outcome.output || envelope!.binding.to.length !== 1 || envelope!.binding.to[0] !== org) {
    throw protocolFailure(outcome, `${sentSummary(outcome)}; the sum step expects exactly one, to "${org}"`);
  }
  return envelope!;
}
