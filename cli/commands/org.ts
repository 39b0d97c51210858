/** `parley org create`: registers an organisation, optionally with its public keys (server admin). */
import { readFile } from 'node:fs/promises';
import { ErrorCode, ParleyError } from '../../common/errors.ts';
import { isOrgId } from '../../common/ids.ts';
import type { OrgPublicKeys } from '../../crypto/index.ts';
import { UsageError, type Command } from '../lib/command.ts';
import { API_OPTIONS, callApi, openSession, parseVerb, required } from '../lib/session.ts';

const usage = [
  'Usage: parley org create <id> --name NAME [--keys FILE] [--api URL] [--json]',
  '',
  'Registers an organisation (server admin). <id> is a lowercase slug: a letter, then up to 39',
  'letters, digits or "-"; it names the organisation\'s site worker queue and containers.',
  '',
  '  --name NAME  its display name',
  '  --keys FILE  its public keys: the JSON document crypto/\'s publicKeysOf makes,',
  '               {"org", "receive": {"jwk", "thumbprint"}, "sign": {…}}. A file holding a private',
  '               key is refused before anything is sent.',
  '  --api URL    the server (default: the one you are logged in to)',
  '  --json       print one JSON line: the organisation as the API returns it',
].join('\n');

// Members of private or symmetric JWKs (RFC 7518 §6), and the key-file field holding them.
const PRIVATE_MEMBERS = new Set(['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k', 'privateJwk']);

/** Where in `value` private key material sits (e.g. `receive.privateJwk`), without its value. */
function privateMembers(value: unknown, path: string): string[] {
  if (Array.isArray(value)) return value.flatMap((item, i) => privateMembers(item, `${path}[${i}]`));
  if (typeof value !== 'object' || value === null) return [];
  return Object.entries(value).flatMap(([key, inner]) => {
    const here = path ? `${path}.${key}` : key;
    return PRIVATE_MEMBERS.has(key) ? [here] : privateMembers(inner, here);
  });
}

/**
 * The public keys in `file`, checked as the API will check them.
 * @throws ParleyError KeyInvalid when the file holds a private key, is not JSON, or is not `org`'s public keys.
 */
async function readPublicKeys(file: string, org: string): Promise<OrgPublicKeys> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ParleyError(ErrorCode.InvalidInput, `Cannot read the keys file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}. Check the path.`, { path: file }, { cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ParleyError(ErrorCode.KeyInvalid, `${file} is not JSON. Give the public-keys document publicKeysOf makes.`, { path: file });
  }
  // Before anything else, and before any request: a private key must never leave its site.
  const found = privateMembers(json, '');
  if (found.length > 0) {
    throw new ParleyError(
      ErrorCode.KeyInvalid,
      `${file} holds private key material (${found.slice(0, 4).join(', ')}); nothing was sent. A private key never leaves its ` +
        'organisation: give a file with the public half only — {"org", "receive": {"jwk", "thumbprint"}, "sign": {…}}, as publicKeysOf makes from the key file.',
      { path: file },
    );
  }
  const { parseOrgPublicKeys } = await import('../../crypto/index.ts');
  let keys: OrgPublicKeys;
  try {
    keys = parseOrgPublicKeys(json);
  } catch (err) {
    throw new ParleyError(ErrorCode.KeyInvalid, `${file}: ${(err as Error).message}`, { path: file }, { cause: err });
  }
  if (keys.org !== org) {
    throw new ParleyError(ErrorCode.KeyInvalid, `${file} holds the public keys of "${keys.org}", not "${org}". Give ${org}'s own keys, or create "${keys.org}" with them.`, { path: file });
  }
  return keys;
}

interface OrganisationView {
  id: string;
  name: string;
  keys?: { receive: { thumbprint: string } | null; sign: { thumbprint: string } | null };
}

export const orgCommand: Command = {
  name: 'org',
  summary: 'Register an organisation (parley org create)',
  usage,
  async run(argv, io) {
    const { values, args } = parseVerb(argv, 'create', ['id'], { ...API_OPTIONS, name: { type: 'string' }, keys: { type: 'string' } });
    const id = args[0]!;
    if (!isOrgId(id)) throw new UsageError(`<id> "${id}" is not an organisation id: a lowercase letter, then up to 39 lowercase letters, digits or "-".`);
    const name = required(values.name, '--name');
    const keys = values.keys === undefined ? undefined : await readPublicKeys(values.keys, id);
    const session = await openSession(io, values.api);
    const org = await callApi(session, `Creating organisation "${id}"`, (client) =>
      client.createOrganisation({ id, name, ...(keys ? { keys } : {}) })) as OrganisationView;
    if (values.json) {
      io.out(JSON.stringify(org));
      return 0;
    }
    io.out(`Organisation "${org.id}" (${org.name}) created.`);
    const receive = org.keys?.receive?.thumbprint;
    const sign = org.keys?.sign?.thumbprint;
    if (receive && sign) {
      io.out(`Public keys: receive ${receive}, sign ${sign} (RFC 7638 thumbprints).`);
    } else {
      io.out('No public keys yet: its site operator publishes them before its site can take part in runs.');
    }
    return 0;
  },
};
