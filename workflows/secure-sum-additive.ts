/**
 * Secure sum by additive shares (additive secret sharing; see Cramer, Damgård and Nielsen,
 * "Secure Multiparty Computation and Secret Sharing", Cambridge University Press, 2015, ch. 3,
 * https://doi.org/10.1017/CBO9781107337756, and Bogdanov, Laur and Willemson, "Sharemind: a
 * framework for fast privacy-preserving computations", ESORICS 2008,
 * https://doi.org/10.1007/978-3-540-88313-5_13).
 *
 * With n ≥ 3 participants P_1 … P_n and a public modulus M:
 *
 * 1. `additive.0.share`, at every site at once: P_i draws s_ij uniform modulo M for each j ≠ i
 *    (inside its container), keeps s_ii = v_i − Σ_{j≠i} s_ij mod M in its run volume, and sends
 *    s_ij to P_j, sealed for P_j alone.
 * 2. `additive.1.sum`, at every site at once: P_j adds what it received to its own share,
 *    p_j = Σ_i s_ij mod M, and sends p_j to the aggregator P_1 (P_1 keeps its own p_1 in its
 *    volume: there is no message to oneself).
 * 3. `additive.2.combine`, at P_1: Σ_j p_j = Σ_i v_i mod M, sealed for the requester.
 *
 * Why no coalition short of all the other sites learns an honest site's value v_i: the coalition
 * C misses at least one other honest site h. It sees the shares of v_i sent to its members, but
 * never s_ih nor s_ii; any n − 1 shares of v_i are uniform and independent of v_i, so those it
 * sees are too. The partial sums p_j reveal only sums of shares: p_h and p_i each contain a share
 * the coalition never saw, so, given everything C holds, (v_i, v_h) may be any pair with the same
 * sum — C learns what the total (if the aggregator is in C) and its own values imply, nothing
 * more. As with the ring's initiator, the aggregator sees the total it seals; the requester gets
 * only the total. The model is honest-but-curious: every site follows the protocol.
 *
 * This workflow sees ids and ciphertext, never a count, a share, a partial or the total.
 */
import { ApplicationFailure, CancellationScope, log, workflowInfo } from '@temporalio/workflow';
import type { Envelope } from '../common/envelope.ts';
import type { OrgId } from '../common/ids.ts';
import type { StepInputEnvelope, StepOutcome } from '../activities/types.ts';
import type { SecureSumInput, SecureSumResult, StepReport } from './secure-sum-ring.ts';
import { DEFAULT_STEP_TIMEOUT_MS, endRunAt, siteActivities } from './site-activities.ts';
import { SequenceCounter } from './sequence-counter.ts';
import { validateSecureSumInput } from './validate-input.ts';


const Step = {
  Share: 'additive.0.share',
  Sum: 'additive.1.sum',
  Combine: 'additive.2.combine',
} as const;

interface Call {
  org: OrgId;
  step: string;
  role: 'share' | 'sum' | 'combine';
  inputs: StepInputEnvelope[];
  /** The site's last step in the run: it removes its own volume as it ends. */
  last: boolean;
}

/** Runs the additive-share secure sum over ≥ 3 participants; the first participant aggregates. */
export async function secureSumAdditiveWorkflow(input: SecureSumInput): Promise<SecureSumResult> {
  validateSecureSumInput(input);
  const runId = workflowInfo().workflowId;
  const { participants, requester, dataset, modulus, image } = input;
  const timeoutMs = input.stepTimeoutMs ?? DEFAULT_STEP_TIMEOUT_MS;
  const seq = new SequenceCounter();
  const reports: StepReport[] = [];
  const aggregator = participants[0]!;

  // Sites whose last step succeeded have removed their own volume; every other site is cleaned
  // up in `finally`, outside the run's cancellation scope: volumes hold shares and partials and
  // must go whether the run succeeds, fails or is cancelled.
  const released = new Set<OrgId>();

  /**
   * Runs one step at several sites in parallel and waits for all of them, even when one fails:
   * cleanup must not race a sibling's container that is still writing to its volume. Results,
   * sequence numbers and reports follow the order of `calls`, so a replay sees the same.
   */
  const runAll = async (calls: Call[]): Promise<StepOutcome[]> => {
    const settled = await Promise.allSettled(calls.map((c) =>
      siteActivities(c.org, timeoutMs).runStep({
        runId, step: c.step, org: c.org, image, datasets: [dataset],
        args: { role: c.role, dataset, modulus, aggregator },
        participants, requester, inputs: c.inputs, seqStart: seq.peek(c.org), timeoutMs, releaseAtEnd: c.last,
      })));
    const outcomes: StepOutcome[] = [];
    settled.forEach((s, i) => {
      if (s.status !== 'fulfilled') return;
      const { org, step, last } = calls[i]!;
      const outcome = s.value;
      const sealed = outcome.envelopes.length + (outcome.output ? 1 : 0);
      seq.advance(org, sealed);
      if (last) released.add(org);
      reports.push({ step, org, envelopes: sealed, timings: outcome.timings });
      log.info('step done', { runId, step, org, envelopes: sealed, totalMs: outcome.timings.totalMs });
      outcomes.push(outcome);
    });
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
    return outcomes;
  };

  try {
    const shared = await runAll(participants.map((org) => ({ org, step: Step.Share, role: 'share', inputs: [], last: false })));
    const toEach = shared.map((outcome) => oneEnvelopeForEachOther(outcome, participants));

    const summed = await runAll(participants.map((org) => ({
      org,
      step: Step.Sum,
      role: 'sum',
      inputs: participants.flatMap((from, i) => (from === org ? [] : [{ envelope: toEach[i]!.get(org)!, fromStep: Step.Share, from }])),
      last: org !== aggregator,
    })));
    const partials: StepInputEnvelope[] = [];
    summed.forEach((outcome) => {
      if (outcome.org === aggregator) expectNothingSent(outcome);
      else partials.push({ envelope: onlyEnvelopeFor(outcome, aggregator), fromStep: Step.Sum, from: outcome.org });
    });

    const [combined] = await runAll([{ org: aggregator, step: Step.Combine, role: 'combine', inputs: partials, last: true }]);
    if (!combined?.output || combined.envelopes.length > 0) {
      throw ApplicationFailure.nonRetryable(`Step "${Step.Combine}" at "${aggregator}" did not seal exactly one result, for "${requester}", and nothing else.`, 'ERR_STEP_PROTOCOL');
    }
    return { runId, protocol: 'additive', result: combined.output, resultStep: Step.Combine, steps: reports };
  } finally {
    await CancellationScope.nonCancellable(() => Promise.all(participants.filter((org) => !released.has(org)).map((org) => endRunAt(runId, org))));
  }
}

/** The share step's n − 1 envelopes by recipient: exactly one for each other participant. */
function oneEnvelopeForEachOther(outcome: StepOutcome, participants: OrgId[]): Map<OrgId, Envelope> {
  const others = participants.filter((p) => p !== outcome.org);
  const byRecipient = new Map<OrgId, Envelope>();
  for (const envelope of outcome.envelopes) {
    const [to] = envelope.binding.to;
    if (envelope.binding.to.length === 1 && to !== undefined && others.includes(to) && !byRecipient.has(to)) byRecipient.set(to, envelope);
  }
  if (byRecipient.size !== others.length || outcome.envelopes.length !== others.length || outcome.output) {
    throw protocolError(outcome, `sent ${outcome.envelopes.length} message(s)${outcome.output ? ' and an output' : ''}; the share step expects exactly one to each of the ${others.length} other participants`);
  }
  return byRecipient;
}

function onlyEnvelopeFor(outcome: StepOutcome, org: OrgId): Envelope {
  const [envelope] = outcome.envelopes;
  if (outcome.envelopes.length !== 1 || outcome.output || envelope!.binding.to.length !== 1 || envelope!.binding.to[0] !== org) {
    throw protocolError(outcome, `sent ${outcome.envelopes.length} message(s)${outcome.output ? ' and an output' : ''}; the sum step expects exactly one, to "${org}"`);
  }
  return envelope!;
}

function expectNothingSent(outcome: StepOutcome): void {
  if (outcome.envelopes.length > 0 || outcome.output) {
    throw protocolError(outcome, 'sent a message or an output; the aggregator keeps its own partial sum in its run volume');
  }
}

function protocolError(outcome: StepOutcome, what: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(`Step "${outcome.step}" at "${outcome.org}" ${what}.`, 'ERR_STEP_PROTOCOL');
}

