/**
 * Secure sum over a ring (the classic protocol; see e.g. Clifton et al., "Tools for privacy
 * preserving distributed data mining", SIGKDD Explorations 4(2), 2002).
 *
 * The initiator adds a random mask R, uniform modulo a public modulus M, to its value and keeps R
 * in its run volume; each next site adds its own value; the initiator removes R and seals the
 * total for the requester. Every value that travels is masked, and travels as an envelope only
 * the next site can open: this workflow sees ids and ciphertext, never a count.
 */
import { CancellationScope, patched, workflowInfo } from '@temporalio/workflow';
import type { Envelope } from '../common/envelope.ts';
import type { OrgId } from '../common/ids.ts';
import type { SignedManifest } from '../common/run-manifest.ts';
import type { ImageRef } from '../activities/types.ts';
import { runRingProtocol } from './protocols/ring.ts';
import type { PreparedCall, RunProtocolStep } from './protocols/protocol-run.ts';
import { DEFAULT_STEP_TIMEOUT_MS, prepareStepAt, SiteCalls } from './site-activity-stubs.ts';
import { StepLog, type StepReport } from './step-log.ts';
import { validateSecureSumInput } from './validate-input.ts';

export type { StepReport } from './step-log.ts';

/**
 * Runs recorded before the next step was prepared ahead (issue 17) replay without it; the
 * marker this records tells replay which code path a history took.
 */
export const PREPARE_NEXT_STEP_PATCH = 'ring-prepare-next-step';

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

  const requestOf = (call: PreparedCall) => ({
    runId, step: call.step, org: call.org, image, datasets: [dataset], args: { ...call.args, dataset, modulus },
    participants, requester, manifest: input.manifest, timeoutMs,
  });
  const runStep: RunProtocolStep = async (call) => {
    const outcome = await sites.runStep({ ...requestOf(call), inputs: call.inputs, seqStart: steps.nextSeq(call.org), releaseAtEnd: call.last });
    steps.record(outcome);
    // A successful last step removed the site's volume itself.
    if (call.last) cleanups.set(call.org, Promise.resolve());
    return outcome;
  };

  // Preparations are waited for before any cleanup, outside the run's cancellation scope, so
  // that a site's cleanup always comes after its preparation and removes what it made.
  const preparations: Array<Promise<void>> = [];
  const prepareStep = patched(PREPARE_NEXT_STEP_PATCH)
    ? (call: PreparedCall) => void preparations.push(CancellationScope.nonCancellable(() => prepareStepAt({ ...requestOf(call), inputs: call.inputs })))
    : undefined;

  try {
    const total = await runRingProtocol({ participants, requester, stepPrefix: '', runStep, onSiteDone: release, ...(prepareStep ? { prepareStep } : {}) });
    return { runId, protocol: 'ring', result: total.output, resultStep: total.step, steps: steps.reports };
  } finally {
    await Promise.all(preparations);
    participants.forEach(release);
    await Promise.all(cleanups.values());
  }
}
