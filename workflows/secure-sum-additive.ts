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
import { CancellationScope, workflowInfo } from '@temporalio/workflow';
import type { OrgId } from '../common/ids.ts';
import { runAdditiveProtocol } from './protocols/additive.ts';
import type { RunProtocolStep } from './protocols/protocol-run.ts';
import type { SecureSumInput, SecureSumResult } from './secure-sum-ring.ts';
import { DEFAULT_STEP_TIMEOUT_MS, SiteCalls } from './site-activity-stubs.ts';
import { StepLog } from './step-log.ts';
import { validateSecureSumInput } from './validate-input.ts';

/** Runs the additive-share secure sum over ≥ 3 participants; the first participant aggregates. */
export async function secureSumAdditiveWorkflow(input: SecureSumInput): Promise<SecureSumResult> {
  validateSecureSumInput(input);
  const runId = workflowInfo().workflowId;
  const { participants, requester, dataset, modulus, image } = input;
  const timeoutMs = input.stepTimeoutMs ?? DEFAULT_STEP_TIMEOUT_MS;
  const steps = new StepLog(runId);
  const sites = new SiteCalls(input.siteDownToleranceMs);

  // Sites whose last step succeeded have removed their own volume; every other site is cleaned
  // up in `finally`, outside the run's cancellation scope: volumes hold shares and partials and
  // must go whether the run succeeds, fails or is cancelled.
  const released = new Set<OrgId>();

  const runStep: RunProtocolStep = async (call) => {
    const outcome = await sites.runStep({
      runId, step: call.step, org: call.org, image, datasets: [dataset], args: { ...call.args, dataset, modulus },
      participants, requester, manifest: input.manifest, inputs: call.inputs, seqStart: steps.nextSeq(call.org), timeoutMs, releaseAtEnd: call.last,
    });
    steps.record(outcome);
    if (call.last) released.add(call.org);
    return outcome;
  };

  try {
    const total = await runAdditiveProtocol({ participants, requester, stepPrefix: '', runStep });
    return { runId, protocol: 'additive', result: total.output, resultStep: total.step, steps: steps.reports };
  } finally {
    await CancellationScope.nonCancellable(() => Promise.all(participants.filter((org) => !released.has(org)).map((org) => sites.endRun(runId, org))));
  }
}
