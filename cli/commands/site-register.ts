/**
 * `parley site register`: registers an organisation's site in a collaboration and prints the site
 * worker's credential — the only time it is ever shown (the server keeps only its hash).
 */
import { isOrgId } from '../../common/ids.ts';
import { ErrorCode, ParleyError } from '../../common/errors.ts';
import { UsageError } from '../lib/command.ts';
import { API_OPTIONS, callApi, openSession, parseVerb, required, type Session } from '../lib/session.ts';
import type { SiteVerb } from '../lib/site-verb.ts';

const usage = [
  'Usage: parley site register --collab ID --org ORG [--api URL] [--json]',
  '',
  'Registers organisation ORG\'s site in a collaboration (its site operator, or a server admin) and',
  'prints the credential its site worker signs in with. It is shown only this once: put it in the',
  'worker\'s credential file (api.credentialFile, mode 0600) straight away. If it is lost, revoke the',
  'site and register a new one.',
  '',
  '  --collab ID  the collaboration: its id, or its exact name',
  '  --org ORG    the organisation whose site this is',
  '  --api URL    the server (default: the one you are logged in to)',
  '  --json       print one JSON line: {"site": {…}, "credential"}',
].join('\n');

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

async function collaborationId(session: Session, given: string): Promise<string> {
  if (UUID.test(given)) return given;
  const { collaborations } = await callApi(session, 'Listing collaborations', (client) => client.collaborations());
  const match = collaborations.find((c) => c.name === given);
  if (match === undefined) {
    throw new ParleyError(ErrorCode.NotFound, `No collaboration named "${given}" is visible to ${session.login.username}. Check the name, or give the collaboration's id (printed by \`parley collab create\`).`);
  }
  return match.id;
}

export const siteRegister: SiteVerb = {
  verb: 'register',
  summary: 'register the site in a collaboration; prints its worker credential once',
  usage,
  async run(argv, io) {
    const { values } = parseVerb(argv, 'register', [], { ...API_OPTIONS, collab: { type: 'string' }, org: { type: 'string' } });
    const collab = required(values.collab, '--collab');
    const orgId = required(values.org, '--org');
    if (!isOrgId(orgId)) throw new UsageError(`--org "${orgId}" is not an organisation id (a lowercase slug).`);
    const session = await openSession(io, values.api);
    const id = await collaborationId(session, collab);
    const registered = await callApi(session, `Registering ${orgId}'s site`, (client) => client.registerSite({ collaborationId: id, orgId }));
    if (values.json) {
      io.out(JSON.stringify(registered));
      io.err('The credential above is shown only this once: store it in the site worker\'s credential file now.');
      return 0;
    }
    io.out(`Site ${registered.site.id} registered for "${orgId}" in collaboration ${id}.`);
    io.out('Its worker credential, shown only this once — store it in the site worker\'s credential file');
    io.out('(api.credentialFile, mode 0600) now; it cannot be shown again (if lost, revoke the site and register a new one):');
    io.out(`  ${registered.credential}`);
    return 0;
  },
};
