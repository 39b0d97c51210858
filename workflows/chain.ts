/**
 * Runs any valid chain (common/chain.ts): container steps at some sites, secure sums over all of
 * them, each step as soon as the steps it depends on are done — steps that do not depend on each
 * other run in parallel, and a step's sites run it in parallel. At one site, the chain's steps run
 * one at a time, in the order they became ready: a site's sequence numbers then follow the
 * history, and a site is never asked for more than one of this run's containers at once.
 *
 * Like the secure-sum workflows, this one sees ids and ciphertext only: what a step sends another
 * site travels as an envelope the receiving site opens; what a step leaves for the site's next
 * step stays in that site's run volume; outputs are sealed for the requester. Every site's run
 * volume is removed when the run ends, however it ends.
 */
import { ApplicationFailure, CancellationScope, workflowInfo } from '@temporalio/workflow';
import type {
  ChainOutput, ChainResult, ChainRunInput, ChainStep, ChainStepReport, ContainerStep, LinkStep, SecureSumStep, VerticalStep,
} from '../common/chain.ts';
import { ErrorCode } from '../common/errors.ts';
import { secureSumArgs } from '../common/secure-sum-args.ts';
import type { OrgId } from '../common/ids.ts';
import type { StepInputEnvelope, StepOutcome, StepRequest } from '../activities/types.ts';
import { runAdditiveProtocol } from './protocols/additive.ts';
import { runLinkProtocol } from './protocols/link.ts';
import { runRingProtocol } from './protocols/ring.ts';
import { runVerticalProtocol } from './protocols/vertical.ts';
import { settleAll } from './settle-all.ts';
import { DEFAULT_STEP_TIMEOUT_MS, SiteCalls } from './site-activity-stubs.ts';
import { StepLog } from './step-log.ts';
import { validateChainInput } from './validate-chain-input.ts';

/** What one site is asked to run, before the run's common fields are added. */
type SiteCall = Pick<StepRequest, 'org' | 'step' | 'image' | 'datasets' | 'args' | 'inputs' | 'timeoutMs'>;

export async function chainWorkflow(input: ChainRunInput): Promise<ChainResult> {
  validateChainInput(input);
  const runId = workflowInfo().workflowId;
  const { chain, participants, requester } = input;
  const defaultTimeoutMs = input.stepTimeoutMs ?? DEFAULT_STEP_TIMEOUT_MS;
  const log = new StepLog(runId);
  const siteCalls = new SiteCalls(input.siteDownToleranceMs);
  const reports: ChainStepReport[] = [];
  const outputs: ChainOutput[] = [];
  /** Each finished container step's outcomes, for the steps that read its messages. */
  const sent = new Map<string, StepOutcome[]>();

  /** One queue per site: the site's steps of this run, one at a time, in order of readiness. */
  const queues = new Map<OrgId, Promise<unknown>>();
  const atSite = <T>(org: OrgId, task: () => Promise<T>): Promise<T> => {
    const result = (queues.get(org) ?? Promise.resolve()).then(task);
    queues.set(org, result.catch(() => undefined));
    return result;
  };

  const runSiteStep = (chainStep: string, call: SiteCall): Promise<StepOutcome> => atSite(call.org, async () => {
    const outcome = await siteCalls.runStep({
      runId, participants, requester, manifest: input.manifest, seqStart: log.nextSeq(call.org), ...call,
    });
    reports.push({ chainStep, ...log.record(outcome) });
    if (outcome.output) outputs.push({ step: chainStep, boundStep: outcome.step, org: outcome.org, envelope: outcome.output });
    return outcome;
  });

  const readersOf = (id: string) => chain.steps.filter((s): s is ContainerStep => s.kind === 'container' && s.inputs.includes(id));

  const runContainerStep = async (step: ContainerStep): Promise<void> => {
    const sites = step.at ?? participants;
    const timeoutMs = step.timeoutMs ?? defaultTimeoutMs;
    const outcomes = await settleAll(sites.map((org) => runSiteStep(step.id, {
      org, step: step.id, image: step.image, datasets: step.datasets, args: step.args, inputs: inputsFor(step, org), timeoutMs,
    })));
    // A message nobody will read is a chain that does not do what its author meant: say so now.
    const readers = readersOf(step.id);
    for (const outcome of outcomes) {
      for (const envelope of outcome.envelopes) {
        for (const to of envelope.binding.to) {
          if (!readers.some((r) => (r.at ?? participants).includes(to))) {
            throw ApplicationFailure.nonRetryable(
              `Step "${step.id}" at "${outcome.org}" sent a message to "${to}", but no later step reads "${step.id}"'s messages at "${to}". Add "inputs: [${step.id}]" to a step that runs there, or stop sending it.`,
              ErrorCode.StepProtocol,
            );
          }
        }
      }
    }
    sent.set(step.id, outcomes);
  };

  const inputsFor = (step: ContainerStep, org: OrgId): StepInputEnvelope[] => step.inputs.flatMap((id) =>
    (sent.get(id) ?? []).flatMap((outcome) => outcome.envelopes
      .filter((envelope) => envelope.binding.to.includes(org))
      .map((envelope) => ({ envelope, fromStep: outcome.step, from: outcome.org }))));

  const runSecureSum = async (step: SecureSumStep): Promise<void> => {
    const timeoutMs = step.timeoutMs ?? defaultTimeoutMs;
    const common = secureSumArgs(step);
    const protocol = step.protocol === 'ring' ? runRingProtocol : runAdditiveProtocol;
    await protocol({
      participants,
      requester,
      stepPrefix: `${step.id}.`,
      // Volumes stay until the chain ends: a later step may still read them.
      runStep: (call) => runSiteStep(step.id, { org: call.org, step: call.step, image: step.image, datasets: [], args: { ...call.args, ...common }, inputs: call.inputs, timeoutMs }),
    });
  };

  // A link leaves each source's linked rows in its run volume; nothing is sealed for the requester.
  const runLink = (step: LinkStep): Promise<void> => runLinkProtocol({
    step,
    runStep: (call) => runSiteStep(step.id, { org: call.org, step: call.step, image: step.image, datasets: call.datasets, args: call.args, inputs: call.inputs, timeoutMs: step.timeoutMs ?? defaultTimeoutMs }),
  });

  const runVertical = async (step: VerticalStep): Promise<void> => {
    const timeoutMs = step.timeoutMs ?? defaultTimeoutMs;
    await runVerticalProtocol({
      step, participants, requester,
      runStep: (call) => runSiteStep(step.id, { org: call.org, step: call.step, image: step.image, datasets: [], args: call.args, inputs: call.inputs, timeoutMs }),
    });
  };

  const runChainStep = (step: ChainStep): Promise<void> => {
    switch (step.kind) {
      case 'container': return runContainerStep(step);
      case 'secure-sum': return runSecureSum(step);
      case 'link': return runLink(step);
      case 'vertical': return runVertical(step);
    }
  };

  try {
    // On the first failure the steps still running are cancelled (each site kills its
    // container), and the run waits for them before cleaning up.
    let firstFailure: { error: unknown } | undefined;
    const graph = new CancellationScope();
    await graph.run(async () => {
      const done = new Map<string, Promise<void>>();
      for (const step of chain.steps) {
        const needs = [...step.after, ...(step.kind === 'container' ? step.inputs : [])].map((id) => done.get(id)!);
        const running = Promise.all(needs).then(() => runChainStep(step));
        running.catch((error: unknown) => {
          if (firstFailure) return;
          firstFailure = { error };
          graph.cancel();
        });
        done.set(step.id, running);
      }
      await Promise.allSettled(done.values());
    });
    if (firstFailure) throw firstFailure.error;

    const order = (o: ChainOutput) => [chain.steps.findIndex((s) => s.id === o.step), participants.indexOf(o.org)] as const;
    outputs.sort((a, b) => order(a)[0] - order(b)[0] || order(a)[1] - order(b)[1]);
    return { runId, chain: chain.name, outputs, steps: reports };
  } finally {
    await CancellationScope.nonCancellable(() => Promise.all(participants.map((org) => siteCalls.endRun(runId, org))));
  }
}
