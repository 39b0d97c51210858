/** `parley algorithm new <dir> --lang python|js`: writes a working algorithm to start from. */
import { scaffoldAlgorithm } from '../../algorithms/scaffold-algorithm.ts';
import { UsageError } from '../lib/command.ts';
import { parseVerb } from '../lib/session.ts';
import type { SiteVerb as Verb } from '../lib/site-verb.ts';

const usage = [
  'Usage: parley algorithm new <dir> --lang python|js [--name IMAGE] [--json]',
  '',
  'Writes a working algorithm into <dir> (new or empty): its entry point (main.py or main.js), its',
  'manifest (parley-algorithm.yaml: name, language, entry, packages, the JSON Schema of its args,',
  'what it reads and writes), a sample dataset (samples/, never shipped) and a test. Then:',
  '',
  '  parley algorithm build <dir>',
  '  parley algorithm test <dir> --dataset patients=<dir>/samples/patients.csv --args \'{"column":"lab_value"}\'',
  '',
  '  --lang LANG    python or js',
  '  --name IMAGE   the image name (default local/<dir\'s name>)',
  '  --json         print one JSON line: {name, dir, files}',
].join('\n');

export const algorithmNew: Verb = {
  verb: 'new',
  summary: 'scaffold a working algorithm (Python or JavaScript)',
  usage,
  async run(argv, io) {
    const { values, args } = parseVerb(argv, 'new', ['dir'], { lang: { type: 'string' }, name: { type: 'string' }, json: { type: 'boolean', default: false } });
    const language = values.lang;
    if (language !== 'python' && language !== 'js') throw new UsageError(language === undefined ? '--lang is required: python or js.' : `--lang must be python or js, not "${language}".`);
    const dir = args[0]!;
    let result: { name: string; files: string[] };
    try {
      result = await scaffoldAlgorithm(dir, { language, ...(values.name !== undefined ? { name: values.name } : {}) });
    } catch (err) {
      if (err instanceof TypeError) throw new UsageError(`--name: ${err.message}`);
      throw err;
    }
    if (values.json) {
      io.out(JSON.stringify({ name: result.name, dir, files: result.files }));
      return 0;
    }
    io.out(`Wrote ${result.name} (${language}) into ${dir}: ${result.files.join(', ')}.`);
    io.out(`Next: parley algorithm build ${dir}`);
    return 0;
  },
};
