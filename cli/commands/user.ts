/** `parley user create`: adds a user to an organisation with one role (server admin). */
import { randomBytes } from 'node:crypto';
import { isOrgId } from '../../common/ids.ts';
import { USER_ROLES, isUserRole, type UserRole } from '../../common/roles.ts';
import { UsageError, type Command } from '../lib/command.ts';
import { API_OPTIONS, callApi, openSession, parseVerb, required } from '../lib/session.ts';

const usage = [
  'Usage: parley user create <username> --org ORG --role ROLE [--password-stdin] [--api URL] [--json]',
  '',
  'Creates a user of organisation ORG (server admin). <username> is 1–64 lowercase letters, digits or',
  '. _ @ -. Without --password-stdin a strong password is generated and printed once, to hand over',
  'on a safe channel; it is never shown again.',
  '',
  `  --org ORG         the organisation the user belongs to`,
  `  --role ROLE       one of ${USER_ROLES.join(', ')} (site-operator also accepted)`,
  '  --password-stdin  read the password (at least 12 characters) from stdin: typed without echo at a',
  '                    terminal, else the first line piped in',
  '  --api URL         the server (default: the one you are logged in to)',
  '  --json            print one JSON line: {"user": {…}} (and "password" when generated)',
].join('\n');

function parseRole(text: string): UserRole {
  const role = text.replace(/-/g, '_');
  if (!isUserRole(role)) throw new UsageError(`--role must be one of ${USER_ROLES.join(', ')}; got "${text}".`);
  return role;
}

export const userCommand: Command = {
  name: 'user',
  summary: 'Create a user of an organisation (parley user create)',
  usage,
  async run(argv, io) {
    const { values, args } = parseVerb(argv, 'create', ['username'], {
      ...API_OPTIONS, org: { type: 'string' }, role: { type: 'string' }, 'password-stdin': { type: 'boolean', default: false },
    });
    const username = args[0]!;
    if (!/^[a-z0-9][a-z0-9._@-]{0,63}$/.test(username)) {
      throw new UsageError(`<username> "${username}" must be 1–64 lowercase letters, digits or . _ @ -, starting with a letter or digit.`);
    }
    const orgId = required(values.org, '--org');
    if (!isOrgId(orgId)) throw new UsageError(`--org "${orgId}" is not an organisation id (a lowercase slug).`);
    const role = parseRole(required(values.role, '--role'));
    // Checked before the password is asked for: nobody types a password only to learn they must log in.
    const session = await openSession(io, values.api);
    let password: string;
    let generated = false;
    if (values['password-stdin']) {
      const { readSecret } = await import('../lib/secret-input.ts');
      password = await readSecret(`Password for the new user ${username}: `, 'password');
    } else {
      password = randomBytes(18).toString('base64url');
      generated = true;
    }
    const user = await callApi(session, `Creating user "${username}"`, (client) => client.createUser({ username, password, orgId, role }));
    if (values.json) {
      io.out(JSON.stringify({ user, ...(generated ? { password } : {}) }));
    } else {
      io.out(`User "${username}" created: ${role} of "${orgId}".`);
      if (generated) {
        io.out('Their password, shown only this once — hand it over on a safe channel; it cannot be shown again:');
        io.out(`  ${password}`);
      }
    }
    return 0;
  },
};
