/**
 * Shows a run's result. Opening it needs the researcher's private key and the chain's decoder
 * (workers/researcher.ts); until that is wired in, `openResult` is the one place to switch, and
 * the result is shown as what it is: sealed outputs — step, sealing site, recipients — never
 * their content.
 */
import type { ApiClient } from '../../activities/api-client.ts';
import type { ChainOutput } from '../../common/chain.ts';
import type { Envelope } from '../../common/envelope.ts';
import type { CommandIo } from '../command.ts';

type Result = Awaited<ReturnType<ApiClient['chainRunResult']>>;

/** One sealed output's metadata: ids only, from the envelope's clear binding. */
export interface SealedOutputView {
  step: string;
  boundStep: string;
  org: string;
  recipients: string[];
}

/** The outputs of a result, whichever kind of run it came from. */
export function sealedOutputsOf(result: Result): SealedOutputView[] {
  const outputs: ChainOutput[] = 'outputs' in result
    ? result.outputs
    : [{ step: result.envelope.binding.step, boundStep: result.envelope.binding.step, org: result.envelope.binding.from, envelope: result.envelope as Envelope }];
  return outputs.map((o) => ({ step: o.step, boundStep: o.boundStep, org: o.org, recipients: o.envelope.binding.to }));
}

/**
 * Opens the result with the key in `keyFile`. Returns undefined while opening is not available
 * here (the caller then shows the sealed outputs and says so).
 */
export async function openResult(_result: Result, _keyFile: string | undefined): Promise<unknown | undefined> {
  // The switch: workers/researcher.ts openChainResult(...) opens each output with the
  // researcher's private key and decodes the statistics. Not there yet.
  return undefined;
}

/** Prints the result: opened when it can be, else its sealed outputs. Returns what --json prints. */
export async function showResult(result: Result, keyFile: string | undefined, io: CommandIo, json: boolean): Promise<Record<string, unknown>> {
  const opened = await openResult(result, keyFile);
  const sealed = sealedOutputsOf(result);
  const summary = { runId: result.runId, opened: opened !== undefined, ...(opened !== undefined ? { result: opened } : { sealed }) };
  if (json) return summary;
  if (opened !== undefined) {
    io.out(JSON.stringify(opened, null, 2));
    return summary;
  }
  io.out(`Run ${result.runId}: ${sealed.length} sealed output(s):`);
  for (const o of sealed) io.out(`  ${o.step.padEnd(16)} ${o.boundStep} from ${o.org}, sealed for ${o.recipients.join(', ')}`);
  io.err('Opening results here is not wired in yet (workers/researcher.ts openChainResult); only your organisation\'s private key opens them.');
  return summary;
}
