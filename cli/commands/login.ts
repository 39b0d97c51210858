/**
 * `parley login`: signs in to a central server and keeps the access token for the other commands.
 * `parley logout`: revokes that token at the server and removes it from this machine.
 */
import { parseUsage, UsageError, type Command } from '../lib/command.ts';
import { apiFailure, apiUrl, required } from '../lib/session.ts';

const usage = [
  'Usage: parley login --api URL --username NAME [--password-stdin] [--json]',
  '',
  'Signs in to the Parley API at URL and stores the short-lived access token (never the password) in',
  '$PARLEY_CONFIG_DIR/credentials.json, else $XDG_CONFIG_HOME/parley/credentials.json or',
  '~/.config/parley/credentials.json, readable only by you. The other commands use it until it expires.',
  'The password is read from stdin, never from the command line: typed without echo at a terminal,',
  'else the first line piped in.',
  '',
  '  --api URL         the server, e.g. http://127.0.0.1:8620 (default: the one you last logged in to)',
  '  --username NAME   who you are',
  '  --password-stdin  read the password from stdin without prompting (for scripts)',
  '  --json            print one JSON line: {"api", "username", "orgId", "role", "expiresAt", "credentialsFile"}',
].join('\n');

export const loginCommand: Command = {
  name: 'login',
  summary: 'Sign in to a central server; later commands use the stored token',
  usage,
  async run(argv, io) {
    const { values } = parseUsage({
      args: argv,
      options: {
        api: { type: 'string' },
        username: { type: 'string' },
        'password-stdin': { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
      },
      strict: true,
      allowPositionals: false,
    });
    const username = required(values.username, '--username');
    const { credentialsFile, loadLogin, saveLogin } = await import('../lib/config-store.ts');
    const file = credentialsFile(io.env);
    let api = values.api === undefined ? undefined : apiUrl(values.api);
    if (api === undefined) {
      // A stored login that cannot be read still leaves --api as a way forward.
      const previous = await loadLogin(file).catch(() => undefined);
      if (previous === undefined) throw new UsageError('--api is required: no earlier login says which server to use.');
      api = previous.api;
    }
    const { readSecret } = await import('../lib/secret-input.ts');
    const password = await readSecret(`Password for ${username} at ${api}: `, 'password');
    const { ApiClientError, createApiClient } = await import('../../activities/api-client.ts');
    let session;
    try {
      session = await createApiClient(api).login(username, password);
    } catch (err) {
      if (!(err instanceof ApiClientError)) throw err;
      throw apiFailure(err, `Login to ${api} as ${username}`);
    }
    const { user } = session;
    await saveLogin(file, { api, token: session.accessToken, expiresAt: session.expiresAt, username: user.username, orgId: user.orgId, role: user.role });
    if (values.json) {
      io.out(JSON.stringify({ api, username: user.username, orgId: user.orgId, role: user.role, expiresAt: session.expiresAt, credentialsFile: file }));
    } else {
      io.out(`Logged in to ${api} as ${user.username} (${user.role} of "${user.orgId}") until ${session.expiresAt}.`);
      io.err(`Token stored in ${file} (readable only by you). Run \`parley login\` again once it expires.`);
    }
    return 0;
  },
};

const logoutUsage = [
  'Usage: parley logout [--json]',
  '',
  'Revokes the stored access token at the server (it stops working at once, wherever a copy of it',
  'is) and removes it from this machine. Other sessions of the same user go on; a server admin ends',
  'them all with `parley user revoke-tokens <username>`.',
  '',
  '  --json  print one JSON line: {"api", "username", "revoked", "credentialsFile"}',
].join('\n');

export const logoutCommand: Command = {
  name: 'logout',
  summary: 'Revoke the stored token at the server and forget it',
  usage: logoutUsage,
  async run(argv, io) {
    const { values } = parseUsage({ args: argv, options: { json: { type: 'boolean', default: false } }, strict: true, allowPositionals: false });
    const { credentialsFile, loadLogin } = await import('../lib/config-store.ts');
    const file = credentialsFile(io.env);
    const stored = await loadLogin(file);
    if (stored === undefined) {
      io.out(values.json ? JSON.stringify({ revoked: false, credentialsFile: file }) : `Not logged in (no stored login in ${file}).`);
      return 0;
    }
    const { ApiClientError, createApiClient } = await import('../../activities/api-client.ts');
    let revoked = true;
    try {
      await createApiClient(stored.api, stored.token).logout();
    } catch (err) {
      // Expired or already revoked: nothing is left to revoke, and the file goes all the same.
      if (!(err instanceof ApiClientError) || err.status !== 401) throw apiFailure(err instanceof ApiClientError ? err : new ApiClientError(0, String(err)), `Logout from ${stored.api}`, `The token is still stored in ${file}; try again, or remove the file.`);
      revoked = false;
    }
    const { rm } = await import('node:fs/promises');
    await rm(file, { force: true });
    if (values.json) {
      io.out(JSON.stringify({ api: stored.api, username: stored.username, revoked, credentialsFile: file }));
    } else {
      io.out(`Logged out of ${stored.api} as ${stored.username}: ${revoked ? 'the token is revoked' : 'the token had already expired or been revoked'}, and ${file} is removed.`);
    }
    return 0;
  },
};
