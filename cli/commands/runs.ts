/** `parley runs list | show <id> | cancel <id>`: your organisation's runs. */
import type { RunView } from '../../activities/api-client.ts';
import { RunStatus } from '../../common/run-status.ts';
import { UsageError, type Command } from '../lib/command.ts';
import { progressLine } from '../lib/follow-progress.ts';
import { API_OPTIONS, callApi, openSession, parseVerb } from '../lib/session.ts';

const usage = [
  'Usage: parley runs list [--api URL] [--json]',
  '       parley runs show <run id> [--api URL] [--json]',
  '       parley runs cancel <run id> [--api URL] [--json]',
  '',
  'list    your organisation\'s runs, newest first',
  'show    one run: its status, and each step at each site (pending, scheduled, running, done, failed)',
  'cancel  asks a running run to stop (researcher): every site removes its containers and volumes,',
  '        and the run ends as cancelled',
  '',
  '  --api URL  the server (default: the one you are logged in to)',
  '  --json     print JSON: list, one line per run; show, {run, progress}; cancel, the run',
].join('\n');

function what(run: RunView): string {
  return run.chain ? `chain ${run.chain.name}` : run.protocol;
}

export const runsCommand: Command = {
  name: 'runs',
  summary: 'List, show and cancel your organisation\'s runs',
  usage,
  async run(argv, io) {
    const verb = argv[0];
    if (verb === 'list') {
      const { values } = parseVerb(argv, 'list', [], API_OPTIONS);
      const session = await openSession(io, values.api);
      const { runs } = await callApi(session, 'Listing runs', (c) => c.runs());
      if (values.json) runs.forEach((run) => io.out(JSON.stringify(run)));
      else if (runs.length === 0) io.out('No runs yet. Start one: parley run <chain.yaml>');
      else runs.forEach((run) => io.out(`${run.id}  ${run.status.padEnd(10)} ${what(run).padEnd(28)} ${run.createdAt}`));
      return 0;
    }
    if (verb === 'show') {
      const { values, args } = parseVerb(argv, 'show', ['run id'], API_OPTIONS);
      const session = await openSession(io, values.api);
      const runId = args[0]!;
      const run = await callApi(session, `Reading run ${runId}`, (c) => c.run(runId));
      const progress = await callApi(session, `Reading the progress of ${runId}`, (c) => c.runProgress(runId));
      if (values.json) {
        io.out(JSON.stringify({ run, progress }));
        return 0;
      }
      io.out(`${run.id}: ${what(run)}, ${progress.status}; at ${run.participants.join(', ')}; started ${run.createdAt}`);
      progress.sites.forEach((site) => io.out(progressLine(site)));
      if (progress.status === RunStatus.Completed) io.out(`Result: parley result ${run.id}`);
      return 0;
    }
    if (verb === 'cancel') {
      const { values, args } = parseVerb(argv, 'cancel', ['run id'], API_OPTIONS);
      const session = await openSession(io, values.api);
      const runId = args[0]!;
      const run = await callApi(session, `Cancelling run ${runId}`, (c) => c.cancelRun(runId));
      if (values.json) io.out(JSON.stringify(run));
      else io.out(`Cancellation of ${run.id} requested: each site stops its step and removes what the run left. parley runs show ${run.id} shows when it has ended.`);
      return 0;
    }
    throw new UsageError(verb === undefined ? 'missing subcommand: list, show or cancel.' : `unknown subcommand "${verb}"; one of list, show, cancel.`);
  },
};
