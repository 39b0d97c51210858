/** `parley audit replay`: replays recorded histories against the current workflow code. */
import type { ReplayOutcome } from '../../audit/replay-histories.ts';
import { parseUsage, UsageError, type CommandIo } from '../lib/command.ts';

export const replayUsage = [
  'Usage: parley audit replay <file>… [--workflow-id ID] [--json]',
  '',
  'Replays each history against this Parley\'s workflow code — the bundle the coordinator runs — with',
  'Temporal\'s replayer. A history passes when the code issues exactly the commands it recorded; the',
  'first non-determinism is reported with the event it happened at. Exit 1 when any history fails.',
  '',
  'Each <file> is a bundle from `parley audit export` or a history from `temporal workflow show -o json`.',
  '',
  '  --workflow-id ID  the workflow id of plain `temporal` histories (default: the file name without',
  '                    .json); bundles carry their own',
  '  --json            print one JSON line per history: {"file", "workflowId", "runId", "events", "problem"?}',
].join('\n');

function parseOptions(argv: string[]) {
  const parsed = parseUsage({
    args: argv,
    options: { 'workflow-id': { type: 'string' }, json: { type: 'boolean', default: false } },
    strict: true,
    allowPositionals: true,
  });
  if (parsed.positionals.length === 0) throw new UsageError('missing <file>: give one or more history files.');
  return { files: parsed.positionals, workflowId: parsed.values['workflow-id'], json: parsed.values.json ?? false };
}

function formatOutcome(o: ReplayOutcome): string {
  const run = `${o.workflowId}${o.runId ? ` run ${o.runId}` : ''}`;
  if (o.workflowId === '' && o.problem) return `FAIL  ${o.file}: not read: ${o.problem.detail}`;
  if (!o.problem) return `PASS  ${o.file}: ${run}, ${o.events} events replayed`;
  const at = o.problem.eventId !== undefined ? ` at event ${o.problem.eventId}${o.problem.eventType ? ` (${o.problem.eventType})` : ''}` : '';
  const what = o.problem.kind === 'nondeterminism' ? `non-determinism${at}` : `replay failed${at}`;
  return `FAIL  ${o.file}: ${run}: ${what}: ${o.problem.detail}`;
}

/** Runs `parley audit replay`; returns the exit code. */
export async function runAuditReplay(argv: string[], io: CommandIo): Promise<number> {
  const options = parseOptions(argv);
  const { isParleyError } = await import('../../common/errors.ts');
  const { readHistoryFile } = await import('../../audit/read-history-file.ts');
  const { replayHistories } = await import('../../audit/replay-histories.ts');
  const { installReplayRuntime } = await import('../../audit/replay-runtime.ts');
  const { workflowBundle } = await import('../../workers/coordinator/workflow-bundle.ts');
  // Per file, in the order given: what could not be read, or the outcome of each of its histories.
  const unreadable = new Map<string, string>();
  const sources = [];
  for (const file of options.files) {
    try {
      sources.push(...(await readHistoryFile(file, options.workflowId)));
    } catch (err) {
      if (!isParleyError(err)) throw err;
      unreadable.set(file, err.message);
    }
  }
  let replayed: ReplayOutcome[] = [];
  if (sources.length > 0) {
    installReplayRuntime();
    replayed = await replayHistories(sources, await workflowBundle());
  }
  const outcomes: ReplayOutcome[] = [];
  for (const file of new Set(options.files)) {
    const problem = unreadable.get(file);
    if (problem !== undefined) outcomes.push({ file, workflowId: '', events: 0, problem: { kind: 'failure', detail: problem } });
    outcomes.push(...replayed.filter((o) => o.file === file));
  }
  for (const outcome of outcomes) io.out(options.json ? JSON.stringify(outcome) : formatOutcome(outcome));
  const failed = outcomes.filter((o) => o.problem).length;
  if (!options.json) {
    io.err(failed === 0 ? `All ${outcomes.length} history(ies) replay against the current workflow code.` : `${failed} of ${outcomes.length} failed.`);
  }
  return failed === 0 ? 0 : 1;
}
