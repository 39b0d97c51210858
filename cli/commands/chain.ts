/** `parley chain validate <file>`: checks a chain file without contacting anything. */
import { UsageError, type Command } from '../lib/command.ts';
import { loadChainFile } from '../lib/chain-file.ts';
import { parseVerb } from '../lib/session.ts';

const usage = [
  'Usage: parley chain validate <chain.yaml|chain.json> [--json]',
  '',
  'Validates a chain file against the chain format (chains/chain.schema.json) and its rules: each',
  'problem is printed as file:line:column: path: message. Contacts nothing; images are pinned only',
  'when the chain is run.',
  '',
  '  --json   print one JSON line: {"ok", "name", "steps"} (problems still go to stderr)',
].join('\n');

export const chainCommand: Command = {
  name: 'chain',
  summary: 'Validate a chain file (parley chain validate)',
  usage,
  async run(argv, io) {
    if (argv[0] !== 'validate') throw new UsageError(argv[0] === undefined ? 'missing "validate".' : `unknown subcommand "${argv[0]}"; the only one is "validate".`);
    const { values, args } = parseVerb(argv, 'validate', ['file'], { json: { type: 'boolean', default: false } });
    const file = (await loadChainFile(args[0]!, io))?.file;
    if (values.json) io.out(JSON.stringify(file ? { ok: true, name: file.name, steps: file.steps.map((s) => s.id) } : { ok: false }));
    else if (file) io.out(`OK: ${args[0]} is a valid chain "${file.name}" of ${file.steps.length} step(s): ${file.steps.map((s) => s.id).join(' → ')}.`);
    return file ? 0 : 2;
  },
};
