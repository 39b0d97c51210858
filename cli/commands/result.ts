/** `parley result <run id>`: a completed run's result, sealed for your organisation. */
import { type Command } from '../lib/command.ts';
import { showResult, toJson } from '../lib/sealed-result-view.ts';
import { API_OPTIONS, callApi, openSession, parseVerb } from '../lib/session.ts';

const usage = [
  'Usage: parley result <run id> [--key FILE] [--api URL] [--json]',
  '',
  'Fetches a completed run\'s result: every output, sealed for your organisation. Only your',
  'organisation\'s private key opens them; nothing is decrypted on the server.',
  '',
  '  --key FILE  your organisation\'s key file (mode 0600), to open the outputs',
  '  --api URL   the server (default: the one you are logged in to)',
  '  --json      print one JSON line',
].join('\n');

export const resultCommand: Command = {
  name: 'result',
  summary: 'Fetch a completed run\'s result, sealed for your organisation',
  usage,
  async run(argv, io) {
    const { values, args } = parseVerb(['result', ...argv], 'result', ['run id'], { ...API_OPTIONS, key: { type: 'string' } });
    const runId = args[0]!;
    const session = await openSession(io, values.api);
    const run = await callApi(session, `Reading run ${runId}`, (c) => c.run(runId));
    const result = await callApi(session, `Fetching the result of ${runId}`, (c) => c.chainRunResult(runId));
    const summary = await showResult(result, { keyFile: values.key, session, chain: run.chain }, io, values.json);
    if (values.json) io.out(toJson(summary));
    return 0;
  },
};
