/**
 * Secure sum over a ring (the classic protocol; see e.g. Clifton et al., "Tools for privacy
 * preserving distributed data mining", SIGKDD Explorations 4(2), 2002).
 *
 * The initiator adds a random mask R, uniform modulo a public modulus M, to its value and keeps R
 * in its run volume; each next site adds its own value; the initiator removes R and seals the
 * total for the requester. Every value that travels is masked, and travels as an envelope only
 * the next site can open: this workflow sees ids and ciphertext, never a count.
 */
import { CancellationScope, workflowInfo } from '@temporalio/workflow';
import type { Envelope } from '../common/envelope.ts';
import type { OrgId } from '../common/ids.ts';
import type { SignedManifest } from '../common/run-manifest.ts';
import type { ImageRef } from '../activities/types.ts';
import { runRingProtocol } from './protocols/ring.ts';
import type { RunProtocolStep } from './protocols/protocol-run.ts';
import { DEFAULT_STEP_TIMEOUT_MS, SiteCalls } from './site-activity-stubs.ts';
import { StepLog, type StepReport } from './step-log.ts';
import { validateSecureSumInput } from './validate-input.ts';

export type { StepReport } from './step-log.ts';

export interface SecureSumInput {
  participants: string[];
  requester: string;
  /** The dataset name every site reads its value from. */
  dataset: string;
  /** The public modulus, decimal. */
  modulus: string;
  image: ImageRef;
  stepTimeoutMs?: number;
  /** How long a site's worker may take none of its steps before the run fails naming it (default 15 min). */
  siteDownToleranceMs?: number;
  /** The requester's signed manifest (common/run-manifest.ts), checked by every site at every step. */
  manifest: SignedManifest;
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
  const steps = new StepLog(runId);
  const sites = new SiteCalls(input.siteDownToleranceMs);

  // Each site's cleanup starts as soon as the ring has passed it for good, so that by the end
  // only the initiator's is left to wait for. Outside the run's cancellation scope: volumes hold
  // masks and partial state and must go whether the run succeeds, fails or is cancelled.
  const cleanups = new Map<OrgId, Promise<void>>();
  const release = (org: OrgId) => {
    if (!cleanups.has(org)) cleanups.set(org, CancellationScope.nonCancellable(() => sites.endRun(runId, org)));
  };

  const runStep: RunProtocolStep = async (call) => {
    const outcome = await sites.runStep({
      runId, step: call.step, org: call.org, image, datasets: [dataset], args: { ...call.args, dataset, modulus },
      participants, requester, manifest: input.manifest, inputs: call.inputs, seqStart: steps.nextSeq(call.org), timeoutMs, releaseAtEnd: call.last,
    });
    steps.record(outcome);
    // A successful last step removed the site's volume itself.
    if (call.last) cleanups.set(call.org, Promise.resolve());
    return outcome;
  };

  try {
    const total = await runRingProtocol({ participants, requester, stepPrefix: '', runStep, onSiteDone: release });
    return { runId, protocol: 'ring', result: total.output, resultStep: total.step, steps: steps.reports };
  } finally {
    participants.forEach(release);
    await Promise.all(cleanups.values());
  }
}
