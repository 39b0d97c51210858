/**
 * Runs a whole `link` step (common/link-plan.ts) the way the chain workflow does, round by round,
 * each call a real sandboxed parley/link container (test/support/docker-sandbox.ts), feeding
 * each call the messages the plan routes to it. For the container tests and the bench.
 */
import type Docker from 'dockerode';
import type { OrgId } from '../../common/ids.ts';
import { linkCallArgs, linkPlan, type LinkCall } from '../../common/link-plan.ts';
import { runTestStep, type TestStepResult } from './docker-sandbox.ts';

export interface LinkSource {
  org: OrgId;
  /** The dataset's directory or file on the host. */
  dataset: string;
  datasetName: string;
}

export interface LinkRunOptions {
  docker: Docker;
  scratch: string;
  image: string;
  runId: string;
  link: string;
  identifier: string;
  sources: LinkSource[];
  minRows?: number;
  /** Runs before each call; a test may, say, run a call twice. */
  onCall?: (call: LinkCall, run: () => Promise<TestStepResult>) => Promise<TestStepResult>;
}

export interface LinkRun {
  /** Every call's result, by step id and org. */
  results: Map<string, TestStepResult>;
  /** Bytes of message content sent, in all. */
  bytes: number;
  failed?: { call: LinkCall; result: TestStepResult };
}

/** The args the plan gives `call`, exactly as the chain workflow and the site's check make them. */
export function linkArgs(call: LinkCall, options: Pick<LinkRunOptions, 'link' | 'identifier' | 'sources'>): Record<string, unknown> {
  return linkCallArgs({ id: options.link, identifier: options.identifier, sources: options.sources.map((s) => ({ at: s.org, dataset: s.datasetName })) }, call);
}

/** Runs the plan; stops at the first failed call (returned as `failed`). */
export async function runLink(options: LinkRunOptions): Promise<LinkRun> {
  const orgs = options.sources.map((s) => s.org);
  const plan = linkPlan(orgs, `${options.link}.`);
  const results = new Map<string, TestStepResult>();
  let bytes = 0;
  for (const round of plan) {
    const outcomes = await Promise.all(round.map(async (call) => {
      // Each input names (fromStep, from): the messages of that step at that site addressed here.
      const pairs = [...new Set(call.inputs.map((i) => `${i.fromStep}\u0000${i.from}`))];
      const inputs = pairs.flatMap((pair) => {
        const [fromStep, from] = pair.split('\u0000') as [string, OrgId];
        return results.get(`${fromStep}@${from}`)!.messages.filter((m) => m.to === call.org).map((m) => ({ from, step: fromStep, content: m.content }));
      }).map((input, seq) => ({ ...input, seq }));
      const source = options.sources.find((s) => s.org === call.org)!;
      const run = () => runTestStep(options.docker, options.scratch, {
        image: options.image, runId: options.runId, org: call.org, step: call.step, participants: orgs,
        args: linkArgs(call, options), inputs, allowedRecipients: call.hops.map((h) => h.to),
        ...(call.readsDataset ? { datasets: { [source.datasetName]: source.dataset } } : {}),
        maxMessageBytes: 1024 ** 3, timeoutMs: 600_000, ...(options.minRows !== undefined ? { minRows: options.minRows } : {}),
      });
      const result = options.onCall ? await options.onCall(call, run) : await run();
      return { call, result };
    }));
    for (const { call, result } of outcomes) {
      results.set(`${call.step}@${call.org}`, result);
      bytes += result.messages.reduce((n, m) => n + Buffer.byteLength(JSON.stringify(m.content)), 0);
    }
    const failed = outcomes.find((o) => o.result.exitCode !== 0);
    if (failed) return { results, bytes, failed };
  }
  return { results, bytes };
}
