/** `parley collab create`: a named set of organisations whose sites may compute together (server admin). */
import { isOrgId } from '../../common/ids.ts';
import { UsageError, type Command } from '../lib/command.ts';
import { API_OPTIONS, callApi, openSession, parseVerb, required } from '../lib/session.ts';

const usage = [
  'Usage: parley collab create <name> --members a,b,c [--api URL] [--json]',
  '',
  'Creates a collaboration (server admin): the organisations whose sites may run computations',
  'together. Each member then registers its site in it with `parley site register`.',
  '',
  '  --members LIST  organisation ids, comma-separated',
  '  --api URL       the server (default: the one you are logged in to)',
  '  --json          print one JSON line: the collaboration as the API returns it',
].join('\n');

function parseMembers(text: string): string[] {
  const members = text.split(',').map((m) => m.trim()).filter((m) => m !== '');
  if (members.length === 0) throw new UsageError('--members needs at least one organisation id.');
  members.forEach((m, i) => {
    if (!isOrgId(m)) throw new UsageError(`--members: item ${i + 1} ("${m}") is not an organisation id (a lowercase slug).`);
  });
  const twice = members.find((m, i) => members.indexOf(m) !== i);
  if (twice !== undefined) throw new UsageError(`--members lists "${twice}" twice.`);
  return members;
}

export const collabCommand: Command = {
  name: 'collab',
  summary: 'Create a collaboration of organisations (parley collab create)',
  usage,
  async run(argv, io) {
    const { values, args } = parseVerb(argv, 'create', ['name'], { ...API_OPTIONS, members: { type: 'string' } });
    const name = args[0]!.trim();
    if (name === '') throw new UsageError('<name> must not be empty.');
    const members = parseMembers(required(values.members, '--members'));
    const session = await openSession(io, values.api);
    const collab = await callApi(session, `Creating collaboration "${name}"`, (client) => client.createCollaboration({ name, members }));
    if (values.json) {
      io.out(JSON.stringify(collab));
      return 0;
    }
    io.out(`Collaboration "${collab.name}" created: id ${collab.id}; members ${members.join(', ')}.`);
    io.err(`Next, each member's site: parley site register --collab ${collab.id} --org ORG`);
    return 0;
  },
};
