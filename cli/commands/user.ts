/**
 * `parley user create | disable | enable | revoke-tokens` (server admin): adds a user to an
 * organisation with one role; disables a user (its tokens stop working at once, and it cannot log
 * in) or enables it again; revokes all of a user's tokens.
 */
import { randomBytes } from 'node:crypto';
import { isOrgId } from '../../common/ids.ts';
import { USER_ROLES, isUserRole, type UserRole } from '../../common/roles.ts';
import { UsageError, type Command } from '../lib/command.ts';
import type { CommandIo } from '../lib/command.ts';
import { API_OPTIONS, callApi, openSession, parseVerb, required } from '../lib/session.ts';

const usage = [
  'Usage: parley user create <username> --org ORG --role ROLE [--password-stdin] [--api URL] [--json]',
  '       parley user disable <username> [--api URL] [--json]',
  '       parley user enable <username> [--api URL] [--json]',
  '       parley user revoke-tokens <username> [--api URL] [--json]',
  '',
  'disable: the user cannot log in, and every token it holds stops working at once. enable: it may',
  'log in again (its old tokens stay dead). revoke-tokens: every token it holds stops working; it',
  'logs in again for a new one. All three are for a server admin.',
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

const USERNAME = /^[a-z0-9][a-z0-9._@-]{0,63}$/;

/** disable, enable, revoke-tokens: one user, found by name. */
async function changeUser(verb: 'disable' | 'enable' | 'revoke-tokens', argv: string[], io: CommandIo): Promise<number> {
  const { values, args } = parseVerb(argv, verb, ['username'], { ...API_OPTIONS });
  const username = args[0]!;
  if (!USERNAME.test(username)) throw new UsageError(`<username> "${username}" is not a username (1–64 lowercase letters, digits or . _ @ -).`);
  const session = await openSession(io, values.api);
  const { users } = await callApi(session, 'Listing users', (client) => client.users());
  const user = users.find((u) => u.username === username);
  if (user === undefined) {
    const { ErrorCode, ParleyError } = await import('../../common/errors.ts');
    throw new ParleyError(ErrorCode.NotFound, `No user "${username}" is visible to ${session.login.username}. Check the name (a server admin sees every user).`, { username });
  }
  const what = { disable: 'Disabling', enable: 'Enabling', 'revoke-tokens': 'Revoking the tokens of' }[verb];
  const changed = await callApi(session, `${what} "${username}"`, (client) => (verb === 'revoke-tokens' ? client.revokeUserTokens(user.id) : client.setUserDisabled(user.id, verb === 'disable')));
  if (values.json) {
    io.out(JSON.stringify({ user: changed }));
  } else {
    io.out({
      disable: `User "${username}" disabled: it cannot log in, and its tokens no longer work.`,
      enable: `User "${username}" enabled: it may log in again (tokens from before stay revoked).`,
      'revoke-tokens': `Every token of "${username}" is revoked; it logs in again for a new one.`,
    }[verb]);
  }
  return 0;
}

export const userCommand: Command = {
  name: 'user',
  summary: 'Create, disable or enable a user, or revoke its tokens (server admin)',
  usage,
  async run(argv, io) {
    const verb = argv[0];
    if (verb === 'disable' || verb === 'enable' || verb === 'revoke-tokens') return changeUser(verb, argv, io);
    if (verb !== 'create') throw new UsageError(verb === undefined ? 'missing <verb>: create, disable, enable or revoke-tokens.' : `unknown subcommand "${verb}"; one of create, disable, enable, revoke-tokens.`);
    const { values, args } = parseVerb(argv, 'create', ['username'], {
      ...API_OPTIONS, org: { type: 'string' }, role: { type: 'string' }, 'password-stdin': { type: 'boolean', default: false },
    });
    const username = args[0]!;
    if (!USERNAME.test(username)) {
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
