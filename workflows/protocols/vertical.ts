/**
 * A vertical step's protocol (common/vertical.ts has the plan and why it is private; the image is
 * algorithms/vertical). Step ids `<id>.vertical.<k>.<role>`: deal at the dealers (k = 0), a mask
 * step per round at that round's holders, share at every holder, release at the aggregator,
 * which seals the aggregate for the requester. Steps of one k run in parallel; every envelope a
 * step sends goes to exactly the sites the plan says, once each, and is routed to the step that
 * reads it. Ids and ciphertext only, as in every protocol here.
 */
import type { SealedMessage } from '../../common/envelope.ts';
import type { OrgId } from '../../common/ids.ts';
import { verticalArgs, verticalPlan, verticalSteps, type VerticalStep } from '../../common/vertical.ts';
import type { JsonValue, StepInputEnvelope, StepOutcome } from '../../activities/types.ts';
import { settleAll } from '../settle-all.ts';
import { protocolFailure, sentSummary } from './protocol-failure.ts';
import type { ProtocolResult, RunProtocolStep } from './protocol-run.ts';

export interface VerticalRun {
  step: VerticalStep;
  participants: OrgId[];
  requester: OrgId;
  runStep: RunProtocolStep;
}

export async function runVerticalProtocol(run: VerticalRun): Promise<ProtocolResult> {
  const { step, participants, requester } = run;
  const plan = verticalPlan(step, participants);
  const common = verticalArgs(step, plan) as { [key: string]: JsonValue };
  const steps = verticalSteps(step.id, plan, participants);
  /** Envelopes sent so far, by `<step>\u0000<from>\u0000<to>`. */
  const sent = new Map<string, SealedMessage>();
  const key = (s: string, from: OrgId, to: OrgId) => `${s}\u0000${from}\u0000${to}`;
  let result: ProtocolResult | undefined;
  const last = Math.max(...steps.map((s) => s.index));
  for (let k = 0; k <= last; k++) {
    const now = steps.filter((s) => s.index === k);
    const outcomes: StepOutcome[] = await settleAll(now.map((s) => run.runStep({
      org: s.org,
      step: s.step,
      args: { role: s.role, ...common },
      inputs: s.inputs.map((i): StepInputEnvelope => ({ envelope: sent.get(key(i.fromStep, i.from, s.org))!, fromStep: i.fromStep, from: i.from })),
      last: s.role === 'release' || (s.role === 'share' && s.org !== plan.aggregator),
    })));
    outcomes.forEach((outcome, i) => {
      const s = now[i]!;
      const to = outcome.envelopes.map((e) => (e.binding.to.length === 1 ? e.binding.to[0]! : ''));
      if (to.length !== s.sendTo.length || !s.sendTo.every((o) => to.includes(o)) || (outcome.output !== undefined) !== s.mayOutput) {
        throw protocolFailure(outcome, `${sentSummary(outcome)}; this step of the vertical protocol sends exactly one to each of ${s.sendTo.length ? s.sendTo.join(', ') : 'no one'}${s.mayOutput ? ` and seals one result for "${requester}"` : ''}`);
      }
      outcome.envelopes.forEach((e, j) => sent.set(key(s.step, s.org, to[j]!), e));
      if (outcome.output) result = { output: outcome.output, step: s.step, org: s.org };
    });
  }
  if (!result) throw protocolFailure({ step: step.id, org: plan.aggregator }, `did not seal a result for "${requester}"`);
  return result;
}
