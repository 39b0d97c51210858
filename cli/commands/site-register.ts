/**
 * `parley site register`: registers an organisation's site in a collaboration — with the
 * organisation's consent, an enrolment signed here with its key file, which never leaves the
 * site — and prints the site worker's credential: the only time it is ever shown (the server
 * keeps only its hash).
 */
import { isOrgId } from '../../common/ids.ts';
import { ErrorCode, ParleyError } from '../../common/errors.ts';
import { UsageError } from '../lib/command.ts';
import { API_OPTIONS, callApi, openSession, parseVerb, required, type Session } from '../lib/session.ts';
import { CONFIG_OPTION, configPath, type SiteVerb } from '../lib/site-verb.ts';
import { readKeyFile } from '../../activities/key-file.ts';
import { signSiteEnrolment } from '../../crypto/index.ts';
import { loadSiteConfig } from '../../workers/site/config.ts';

const usage = [
  'Usage: parley site register --collab ID --org ORG [--config FILE | --key FILE] [--api URL] [--json]',
  '',
  'Registers organisation ORG\'s site in a collaboration (run by its site operator) and prints the',
  'credential its site worker signs in with. The organisation consents by signing an enrolment with',
  'its key file: without it the server registers no site, whoever asks. The credential is shown only',
  'this once: put it in the worker\'s credential file (api.credentialFile, mode 0600) straight away.',
  'If it is lost, revoke the site and register a new one.',
  '',
  '  --collab ID    the collaboration: its id, or its exact name (a server admin adds ORG to it first)',
  '  --org ORG      the organisation whose site this is',
  '  --config FILE  the site configuration whose keyFile signs the enrolment (default: ./site.yaml)',
  '  --key FILE     the organisation\'s key file, instead of --config',
  '  --api URL      the server (default: the one you are logged in to)',
  '  --json         print one JSON line: {"site": {…}, "credential"}',
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
    const { values } = parseVerb(argv, 'register', [], { ...API_OPTIONS, ...CONFIG_OPTION, collab: { type: 'string' }, org: { type: 'string' }, key: { type: 'string' } });
    const collab = required(values.collab, '--collab');
    const orgId = required(values.org, '--org');
    if (!isOrgId(orgId)) throw new UsageError(`--org "${orgId}" is not an organisation id (a lowercase slug).`);
    if (values.key !== undefined && values.config !== undefined) throw new UsageError('Give --config or --key, not both.');
    const keys = await readKeyFile(values.key ?? (await loadSiteConfig(configPath(values.config))).keyFile);
    if (keys.org !== orgId) throw new UsageError(`The key file is "${keys.org}"'s, not "${orgId}"'s: only an organisation's own key consents for it.`);
    const session = await openSession(io, values.api);
    const id = await collaborationId(session, collab);
    const enrolment = await signSiteEnrolment(keys, id);
    const registered = await callApi(session, `Registering ${orgId}'s site`, (client) => client.registerSite({ collaborationId: id, orgId, enrolment }));
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
