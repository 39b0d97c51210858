/**
 * The link step's protocol runner: multi-party Diffie–Hellman PSI (Meadows 1986; Huberman,
 * Franklin & Hogg 1999), routed as common/link-plan.ts says — round by round, a round's calls in
 * parallel. Step ids: `<prefix>link.<round>.<role>`. The workflow sees envelopes only; each call's
 * inputs are the envelopes the plan routes to it, and each site recomputes its call from the
 * signed manifest (activities/check-step.ts) before it runs anything.
 */
import type { SealedMessage } from '../../common/envelope.ts';
import type { OrgId } from '../../common/ids.ts';
import type { LinkStep } from '../../common/chain.ts';
import { linkCallArgs, linkCallDatasets, linkPlan, type LinkCall } from '../../common/link-plan.ts';
import type { JsonValue, StepInputEnvelope, StepOutcome } from '../../activities/types.ts';
import { settleAll } from '../settle-all.ts';
import { protocolFailure, sentSummary } from './protocol-failure.ts';

export interface LinkRun {
  step: Pick<LinkStep, 'id' | 'identifier' | 'sources'>;
  /** Runs one call at its site. */
  runStep: (call: { org: OrgId; step: string; args: { [key: string]: JsonValue }; datasets: string[]; inputs: StepInputEnvelope[]; last: boolean }) => Promise<StepOutcome>;
}

/** Runs every round of the link; resolves when every source has written its linked rows. */
export async function runLinkProtocol(run: LinkRun): Promise<void> {
  const outcomes = new Map<string, StepOutcome>();
  for (const round of linkPlan(run.step.sources.map((s) => s.at), `${run.step.id}.`)) {
    const done = await settleAll(round.map((call) => run.runStep({
      org: call.org,
      step: call.step,
      args: linkCallArgs(run.step, call),
      datasets: linkCallDatasets(run.step, call),
      inputs: inputsFor(call, outcomes),
      last: call.last,
    })));
    round.forEach((call, i) => {
      const outcome = done[i]!;
      checkSent(call, outcome);
      outcomes.set(`${call.step}\u0000${call.org}`, outcome);
    });
  }
}

/** The envelopes the plan routes to `call`: from each (step, site) it names, those addressed to it. */
function inputsFor(call: LinkCall, outcomes: Map<string, StepOutcome>): StepInputEnvelope[] {
  const pairs = [...new Set(call.inputs.map((i) => `${i.fromStep}\u0000${i.from}`))];
  return pairs.flatMap((pair) => {
    const outcome = outcomes.get(pair)!;
    return outcome.envelopes
      .filter((e: SealedMessage) => e.binding.to.length === 1 && e.binding.to[0] === call.org)
      .map((envelope) => ({ envelope, fromStep: outcome.step, from: outcome.org }));
  });
}

/** A call sends exactly one message per hop, to that hop's site, and no output. */
function checkSent(call: LinkCall, outcome: StepOutcome): void {
  const want = call.hops.map((h) => h.to).sort();
  const got = outcome.envelopes.map((e) => (e.binding.to.length === 1 ? e.binding.to[0]! : '')).sort();
  if (outcome.output || want.join(',') !== got.join(',')) {
    throw protocolFailure(outcome, `${sentSummary(outcome)}; this link step sends exactly ${want.length} (to ${want.join(', ') || 'nobody'}) and no output`);
  }
}
