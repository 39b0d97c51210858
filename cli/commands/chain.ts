/**
 * `parley chain validate <file>`: checks a chain file, and each step's args against the args
 * schema its image carries on the local Docker engine.
 */
import Docker from 'dockerode';
import { UsageError, type Command } from '../lib/command.ts';
import { checkChainArgs } from '../lib/chain-args.ts';
import { loadChainFile, problemLine } from '../lib/chain-file.ts';
import { parseVerb } from '../lib/session.ts';

const usage = [
  'Usage: parley chain validate <chain.yaml|chain.json> [--json]',
  '',
  'Validates a chain file against the chain format (chains/chain.schema.json) and its rules: each',
  'problem is printed as file:line:column: path: message. Then each step\'s args are checked against',
  'the JSON Schema its image carries (label parley.args-schema, set by `parley algorithm build`),',
  'asking only the local Docker engine; an image it lacks, or one without a schema, is noted and',
  'left unchecked. Images are pinned only when the chain is run.',
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
    const loaded = await loadChainFile(args[0]!, io);
    let file = loaded?.file;
    if (loaded && file) {
      const { problems, unchecked } = await checkChainArgs(file, new Docker()).catch(() => ({
        problems: [],
        unchecked: [{ step: '*', image: 'every image', reason: 'the Docker engine did not answer' }],
      }));
      for (const u of unchecked) io.err(`note: step "${u.step}": args not checked against ${u.image}'s schema (${u.reason}).`);
      for (const p of problems) io.err(problemLine(args[0]!, loaded.place(p)));
      if (problems.length > 0) {
        io.err(`${problems.length} problem(s) in ${args[0]}: args that break their algorithm's schema would be refused before anything runs.`);
        file = undefined;
      }
    }
    if (values.json) io.out(JSON.stringify(file ? { ok: true, name: file.name, steps: file.steps.map((s) => s.id) } : { ok: false }));
    else if (file) io.out(`OK: ${args[0]} is a valid chain "${file.name}" of ${file.steps.length} step(s): ${file.steps.map((s) => s.id).join(' → ')}.`);
    return file ? 0 : 2;
  },
};
