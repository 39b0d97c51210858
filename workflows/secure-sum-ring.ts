/**
 * Secure sum over a ring (the classic protocol; see e.g. Clifton et al., "Tools for privacy
 * preserving distributed data mining", SIGKDD Explorations 4(2), 2002).
 *
 * The initiator adds a random mask R, uniform modulo a public modulus M, to its value and keeps R
 * in its run volume; each next site adds its own value; the initiator removes R and seals the
 * total for the requester. Every value that travels is masked, and travels as an envelope only
 * the next site can open: this workflow sees ids and ciphertext, never a count.
 */
import { ApplicationFailure, CancellationScope, log, workflowInfo } from '@temporalio/workflow';
import type { Envelope } from '../common/envelope.ts';
import type { ImageRef, StepInputEnvelope, StepOutcome, StepTimings } from '../activities/types.ts';
import { DEFAULT_STEP_TIMEOUT_MS, endRunAt, siteActivities } from './site-activities.ts';
import { SequenceCounter } from './sequence-counter.ts';
import { validateSecureSumInput } from './validate-input.ts';

export interface SecureSumInput {
  participants: string[];
  requester: string;
  /** The dataset name every site reads its value from. */
  dataset: string;
  /** The public modulus, decimal. */
  modulus: string;
  image: ImageRef;
  stepTimeoutMs?: number;
}

export interface StepReport {
  step: string;
  org: string;
  envelopes: number;
  timings: StepTimings;
}

export interface SecureSumResult {
  runId: string;
  protocol: 'ring' | 'additive';
  /** The total, sealed by the initiator (the additive protocol's aggregator) for the requester. */
  result: Envelope;
  resultStep: string;
  steps: StepReport[];
}


/** Runs the ring secure sum over ≥ 3 participants; the first participant initiates. */
export async function secureSumRingWorkflow(input: SecureSumInput): Promise<SecureSumResult> {
  validateSecureSumInput(input);
  const runId = workflowInfo().workflowId;
  const { participants, requester, dataset, modulus, image } = input;
  const timeoutMs = input.stepTimeoutMs ?? DEFAULT_STEP_TIMEOUT_MS;
  const seq = new SequenceCounter();
  const reports: StepReport[] = [];
  const n = participants.length;
  const initiator = participants[0]!;

  const runAt = async (
    org: string,
    step: string,
    args: Record<string, string>,
    inputs: StepInputEnvelope[],
    releaseAtEnd = false,
  ): Promise<StepOutcome> => {
    const outcome = await siteActivities(org, timeoutMs).runStep({
      runId, step, org, image, datasets: [dataset], args: { ...args, dataset, modulus },
      participants, requester, inputs, seqStart: seq.peek(org), timeoutMs, releaseAtEnd,
    });
    const sealed = outcome.envelopes.length + (outcome.output ? 1 : 0);
    seq.advance(org, sealed);
    reports.push({ step, org, envelopes: sealed, timings: outcome.timings });
    log.info('step done', { runId, step, org, envelopes: sealed, totalMs: outcome.timings.totalMs });
    return outcome;
  };

  // Each site's cleanup starts as soon as the ring has passed it for good, so that by the end
  // only the initiator's is left to wait for. Outside the run's cancellation scope: volumes hold
  // masks and partial state and must go whether the run succeeds, fails or is cancelled.
  const cleanups = new Map<string, Promise<void>>();
  const release = (org: string) => {
    if (!cleanups.has(org)) cleanups.set(org, CancellationScope.nonCancellable(() => endRunAt(runId, org)));
  };

  try {
    let step = 'ring.0.start';
    let outcome = await runAt(initiator, step, { role: 'start', next: participants[1]! }, []);
    for (let i = 1; i <= n; i++) {
      const org = i < n ? participants[i]! : initiator;
      const from = outcome.org;
      const envelope = onlyEnvelopeFor(outcome, org);
      const previous = step;
      step = i < n ? `ring.${i}.add` : `ring.${i}.finish`;
      const args: Record<string, string> = i < n ? { role: 'add', next: participants[(i + 1) % n]! } : { role: 'finish' };
      // The initiator's finish is its last step: it removes its own volume as it ends, so the
      // run's end does not wait for another round trip to it.
      outcome = await runAt(org, step, args, [{ envelope, fromStep: previous, from }], i === n);
      if (i < n) release(org);
      else cleanups.set(org, Promise.resolve());
    }
    if (!outcome.output) {
      throw ApplicationFailure.nonRetryable(`Step "${step}" at "${initiator}" ended without sealing a result for "${requester}".`, 'ERR_STEP_PROTOCOL');
    }
    return { runId, protocol: 'ring', result: outcome.output, resultStep: step, steps: reports };
  } finally {
    participants.forEach(release);
    await Promise.all(cleanups.values());
  }
}

function onlyEnvelopeFor(outcome: StepOutcome, org: string): Envelope {
  const matching = outcome.envelopes.filter((e) => e.binding.to.length === 1 && e.binding.to[0] === org);
  if (matching.length !== 1 || outcome.envelopes.length !== 1) {
    throw ApplicationFailure.nonRetryable(
      `Step "${outcome.step}" at "${outcome.org}" sent ${outcome.envelopes.length} message(s); the ring expects exactly one, to "${org}".`,
      'ERR_STEP_PROTOCOL',
    );
  }
  return matching[0]!;
}

