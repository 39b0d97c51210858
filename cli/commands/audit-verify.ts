/** `parley audit verify`: checks a run's envelopes and attestations with public keys only. */
import { parseUsage, UsageError, type CommandIo } from '../lib/command.ts';

export const verifyUsage = [
  'Usage: parley audit verify <file> [--keys-dir DIR] [--json]',
  '',
  'Checks, with public keys only, every envelope in the run\'s histories: its sender\'s signature over',
  'the whole envelope, its binding (run, step, sender, recipients) against where the history has it,',
  'each sender\'s sequence numbers (no gap, no repeat); each step\'s attestation (signed by the site;',
  'the image it ran is the one asked for, on its allow-list; the envelopes it sealed are those returned);',
  'and that no event is missing. Prints a timeline of the run, then the findings. Exit 1 on any finding.',
  '',
  '<file> is a bundle from `parley audit export` (it carries the public keys), or a history from',
  '`temporal workflow show -o json` with --keys-dir.',
  '',
  '  --keys-dir DIR  <org>.json public-key files to use instead of the bundle\'s (e.g. fetched from the API)',
  '  --workflow-id ID  the workflow id of a plain `temporal` history (default: the file name without .json)',
  '  --json          print one JSON object: {"file", "histories": [...timeline], "findings": [...]}',
].join('\n');

function parseOptions(argv: string[]) {
  const parsed = parseUsage({
    args: argv,
    options: { 'keys-dir': { type: 'string' }, 'workflow-id': { type: 'string' }, json: { type: 'boolean', default: false } },
    strict: true,
    allowPositionals: true,
  });
  const [file, ...extra] = parsed.positionals;
  if (file === undefined) throw new UsageError('missing <file>: give an audit bundle.');
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}": verify one bundle at a time.`);
  return { file, keysDir: parsed.values['keys-dir'], workflowId: parsed.values['workflow-id'], json: parsed.values.json ?? false };
}

/** Runs `parley audit verify`; returns the exit code. */
export async function runAuditVerify(argv: string[], io: CommandIo): Promise<number> {
  const options = parseOptions(argv);
  const { readAuditFile } = await import('../../audit/read-audit-file.ts');
  const { verifyHistories } = await import('../../audit/verify-bundle.ts');
  const { formatVerifyReport } = await import('../../audit/verify-report.ts');
  const { histories, publicKeys, blobs, bodies } = await readAuditFile(options.file, { keysDir: options.keysDir, workflowId: options.workflowId });
  const started = performance.now();
  const report = await verifyHistories(histories, publicKeys, { blobs, bodies });
  const ms = Math.round(performance.now() - started);
  if (options.json) io.out(JSON.stringify({ file: options.file, ...report }));
  else for (const line of formatVerifyReport(options.file, report)) io.out(line);
  io.err(`Verified in ${ms} ms with public keys only.`);
  return report.findings.length === 0 ? 0 : 1;
}
