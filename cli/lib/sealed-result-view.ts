/**
 * Shows a run's result. With the organisation's key file, each output is opened on this machine
 * (researcher/runs.ts openChainOutputs: signature, binding and sender checked against keys
 * fetched from the API and pinned on first use) and read in the light of its chain step
 * (statistics, a total, or the JSON the step wrote). Without it, the result is shown as what it
 * is: sealed outputs — step, sealing site, recipients — never their content.
 */
import { dirname, join } from 'node:path';
import type { ApiClient } from '../../activities/api-client.ts';
import type { ChainOutput, ChainSpec } from '../../common/chain.ts';
import { ErrorCode, ParleyError } from '../../common/errors.ts';
import type { ReadChainOutput } from '../../researcher/chain-result.ts';
import type { CommandIo } from './command.ts';
import type { Session } from './session.ts';
import { describePrivacy, formatCellCount } from '../../researcher/statistics.ts';
import { formatVerticalResult } from './vertical-view.ts';

type Result = Awaited<ReturnType<ApiClient['chainRunResult']>>;

/** One sealed output's metadata: ids only, from the envelope's clear binding. */
export interface SealedOutputView {
  step: string;
  boundStep: string;
  org: string;
  recipients: string[];
}

/** The outputs of a result, whichever kind of run it came from (a ring's one envelope is one output). */
export function outputsOf(result: Result): ChainOutput[] {
  return 'outputs' in result
    ? result.outputs
    : [{ step: result.envelope.binding.step, boundStep: result.envelope.binding.step, org: result.envelope.binding.from, envelope: result.envelope }];
}

/**
 * Opens every output with the key in `keyFile` and reads it against `chain`.
 * @throws ParleyError when the key file is not the caller's organisation's, or an output does not open.
 */
export async function openResult(result: Result, keyFile: string, session: Session, chain: ChainSpec | undefined, env: NodeJS.ProcessEnv): Promise<ReadChainOutput[]> {
  const [{ readKeyFile }, { pinnedKeyDirectory }, { credentialsFile }, { openChainOutputs }, { readChainOutputs }] = await Promise.all([
    import('../../activities/key-file.ts'), import('../../activities/pinned-key-directory.ts'), import('./config-store.ts'),
    import('../../researcher/runs.ts'), import('../../researcher/chain-result.ts'),
  ]);
  const keys = await readKeyFile(keyFile);
  if (keys.org !== session.login.orgId) {
    throw new ParleyError(ErrorCode.InvalidInput, `${keyFile} holds the keys of "${keys.org}", but results are sealed for your organisation "${session.login.orgId}". Give its key file.`);
  }
  // Senders' keys come from the API and are pinned beside the stored login, as sites pin theirs.
  const directory = pinnedKeyDirectory({ api: session.client, pinFile: join(dirname(credentialsFile(env)), 'pinned-keys.json') });
  const opened = await openChainOutputs({ runId: result.runId, outputs: outputsOf(result) }, { org: keys.org, keys }, directory);
  return readChainOutputs(chain ?? { name: 'ring', steps: [] }, opened);
}

/** JSON.stringify that writes bigints as decimal strings. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}

function printReading(output: ReadChainOutput, io: CommandIo): void {
  const { reading } = output;
  if (reading.kind === 'statistics') {
    const s = reading.statistics;
    io.out(`${output.step} (combined by ${output.org}): ${s.column} over ${s.count} rows: mean ${s.mean}, variance ${s.variance}, sd ${s.sd}`);
    // A suppressed cell prints as "<threshold" (researcher/statistics.ts), not as null.
    for (const cell of s.histogram) io.out(`  ${toJson(cell.count === null ? { ...cell, count: formatCellCount(cell, s.suppressedBelow) } : cell)}`);
    if (s.privacy) for (const line of describePrivacy(s.privacy)) io.out(line);
  } else if (reading.kind === 'total') {
    io.out(`${output.step} (from ${output.org}): total ${reading.total}`);
  } else if (reading.kind === 'vertical') {
    const [head, ...rest] = formatVerticalResult(reading.result);
    io.out(`${output.step} (released by ${output.org}): ${head}`);
    for (const line of rest) io.out(line);
  } else {
    io.out(`${output.step} (from ${output.org}): ${toJson(reading.content)}`);
  }
}

/** Prints the result: opened with `keyFile` when given, else its sealed outputs. Returns what --json prints. */
export async function showResult(
  result: Result,
  options: { keyFile: string | undefined; session: Session; chain: ChainSpec | undefined },
  io: CommandIo,
  json: boolean,
): Promise<Record<string, unknown>> {
  if (options.keyFile !== undefined) {
    const readings = await openResult(result, options.keyFile, options.session, options.chain, io.env);
    if (!json) readings.forEach((r) => printReading(r, io));
    return { runId: result.runId, opened: true, outputs: JSON.parse(toJson(readings)) };
  }
  const sealed: SealedOutputView[] = outputsOf(result).map((o) => ({ step: o.step, boundStep: o.boundStep, org: o.org, recipients: o.envelope.binding.to }));
  if (!json) {
    io.out(`Run ${result.runId}: ${sealed.length} sealed output(s):`);
    for (const o of sealed) io.out(`  ${o.step.padEnd(16)} ${o.boundStep} from ${o.org}, sealed for ${o.recipients.join(', ')}`);
    io.err('Only your organisation\'s private key opens them: add --key <your organisation\'s key file>.');
  }
  return { runId: result.runId, opened: false, sealed };
}
