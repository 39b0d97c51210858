/**
 * The central server's command line as an operator uses it: the real `parley server start` in a
 * child process (PGlite in a temporary state directory, the test run's Temporal server), then
 * `parley login`, `org create`, `user create`, `collab create` and `site register` against it —
 * the ones reading a password from stdin as processes, the rest in this process through main().
 */
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { writeKeyFile } from '../../activities/key-file.ts';
import { generateOrgKeys, publicKeysOf } from '../../crypto/index.ts';
import { lastJsonLine, parley, parleyProcess, startParley, type ParleyDaemon, type Ran } from '../../test/support/parley-cli.ts';
import { testNamespace } from '../../test/support/test-namespace.ts';

let root: string;
let env: NodeJS.ProcessEnv;
let server: ParleyDaemon;
/** The server, as soon as it is spawned: stopped after the tests even if it never got ready. */
const spawned: ParleyDaemon[] = [];
let started: { url: string; admin: { username: string; orgId: string; created: boolean; password: string } };
/** Everything every command printed, to look for secrets in. */
const printed: string[] = [];

/** Keeps what a command printed, for the search for secrets. */
function seen(ran: Ran): Ran {
  printed.push(ran.stdout, ran.stderr);
  return ran;
}

/** `parley <args>` in this process, as the operator logged in under `root`/config. */
const run = async (args: string[], options: { env?: NodeJS.ProcessEnv } = {}) => seen(await parley(args, { env: options.env ?? env }));
/** `parley <args>` as a process, its stdin piped in (passwords). */
const runWithStdin = async (args: string[], stdin: string) => seen(await parleyProcess(args, { env, stdin }));

async function writeJson(name: string, value: unknown): Promise<string> {
  const file = join(root, name);
  await writeFile(file, JSON.stringify(value));
  return file;
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'parley-server-cli-'));
  env = { ...process.env, TEMPORAL_ADDRESS: inject('temporalAddress'), TEMPORAL_NAMESPACE: testNamespace(import.meta.url), PARLEY_CONFIG_DIR: join(root, 'config') };
  // PGlite under the state directory, and a generated admin password.
  delete env.DATABASE_URL;
  delete env.PARLEY_ADMIN_PASSWORD;
  // Ready once its one stdout line (the JSON) is whole.
  server = await startParley(['server', 'start', '--port', '0', '--json', '--state-dir', join(root, 'state')], { env, ready: /^\{.*\n/, keepIn: spawned });
  started = JSON.parse(server.stdout().split('\n')[0]!);
});

afterAll(async () => {
  await Promise.all(spawned.map((daemon) => daemon.stop('SIGKILL')));
  await rm(root, { recursive: true, force: true });
});

describe('parley server start, login and the admin commands', () => {
  it('prints its URL and, having created the admin, the generated password once', async () => {
    expect(started.url).toMatch(/^http:\/\/127\.0\.0\.1:[0-9]+$/);
    expect(started.admin).toMatchObject({ username: 'admin', orgId: 'central', created: true });
    expect(started.admin.password.length).toBeGreaterThanOrEqual(12);
    expect((await fetch(`${started.url}/healthz`)).status).toBe(200);
    expect(server.stdout().split(started.admin.password)).toHaveLength(2);
    expect(server.stderr()).not.toContain(started.admin.password);
  });

  it('logs in with the password from stdin and keeps the token in a file only its owner can read', async () => {
    const ran = await runWithStdin(['login', '--api', started.url, '--username', 'admin', '--password-stdin', '--json'], `${started.admin.password}\n`);
    expect(ran.code, ran.stderr).toBe(0);
    expect(lastJsonLine(ran.stdout)).toMatchObject({ api: started.url, username: 'admin', orgId: 'central', role: 'admin' });
    const file = join(root, 'config', 'credentials.json');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const stored = JSON.parse(await readFile(file, 'utf8'));
    expect(stored).toMatchObject({ api: started.url, username: 'admin', orgId: 'central', role: 'admin' });
    expect(Date.parse(stored.expiresAt)).toBeGreaterThan(Date.now());

    const wrong = await runWithStdin(['login', '--api', started.url, '--username', 'admin'], 'not-the-password\n');
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/username or password is wrong/);
  });

  it('registers organisations with their public keys, refusing a file that holds a private key', async () => {
    for (const id of ['north', 'south', 'east']) {
      const orgKeys = await generateOrgKeys(id);
      // The organisation's own key file, as its site would keep it: it signs the site's enrolment.
      await writeKeyFile(join(root, `${id}.keys.json`), orgKeys);
      const keys = await writeJson(`${id}.public.json`, publicKeysOf(orgKeys));
      const ran = await run(['org', 'create', id, '--name', `${id} registry`, '--keys', keys, '--json']);
      expect(ran.code, ran.stderr).toBe(0);
      expect(lastJsonLine(ran.stdout)).toMatchObject({ id, name: `${id} registry`, keys: { receive: { thumbprint: expect.any(String) }, sign: { thumbprint: expect.any(String) } } });
    }
    const keyFile = await writeJson('west.keys.json', await generateOrgKeys('west'));
    const refused = await run(['org', 'create', 'west', '--name', 'West', '--keys', keyFile]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/holds private key material \(receive\.privateJwk, sign\.privateJwk\); nothing was sent/);
    const { token } = JSON.parse(await readFile(join(root, 'config', 'credentials.json'), 'utf8'));
    const west = await fetch(`${started.url}/v1/organisations/west`, { headers: { authorization: `Bearer ${token}` } });
    expect(west.status).toBe(404);
  });

  it('creates a researcher, a collaboration and a site whose credential is printed once and works', async () => {
    const password = 'a researcher passphrase';
    const user = await runWithStdin(['user', 'create', 'alice', '--org', 'north', '--role', 'researcher', '--password-stdin'], `${password}\n`);
    expect(user.code, user.stderr).toBe(0);
    expect(user.stdout).toMatch(/User "alice" created: researcher of "north"/);
    const alice = await fetch(`${started.url}/v1/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'alice', password }) });
    expect(alice.status).toBe(200);

    const collab = await run(['collab', 'create', 'Cancer registries', '--members', 'north,south,east', '--json']);
    expect(collab.code, collab.stderr).toBe(0);
    const { id: collabId, members } = lastJsonLine<{ id: string; members: Array<{ orgId: string }> }>(collab.stdout);
    expect(members.map((m) => m.orgId).sort()).toEqual(['east', 'north', 'south']);

    const site = await run(['site', 'register', '--collab', collabId, '--org', 'south', '--key', join(root, 'south.keys.json')]);
    expect(site.code, site.stderr).toBe(0);
    expect(site.stdout).toMatch(/shown only this once/);
    const credential = site.stdout.trim().split('\n').at(-1)!.trim();
    expect(site.stdout.split(credential)).toHaveLength(2);
    const me = await fetch(`${started.url}/v1/sites/me`, { headers: { authorization: `Bearer ${credential}` } });
    expect(await me.json()).toMatchObject({ orgId: 'south', collaborationId: collabId });

    // Secrets appear only where they were meant to: the password never, the token never.
    const { token } = JSON.parse(await readFile(join(root, 'config', 'credentials.json'), 'utf8'));
    for (const text of [...printed, server.stderr()]) {
      expect(text).not.toContain(token);
      expect(text).not.toContain(password);
      expect(text).not.toContain(started.admin.password);
    }
    expect(printed.filter((text) => text.includes(credential))).toEqual([site.stdout]);
  });

  it('answers bad usage with exit code 2; a missing login or Temporal with exit code 1 saying what to do', async () => {
    const noTemporal = run(['server', 'start', '--port', '0', '--state-dir', join(root, 'other')], { env: { ...env, TEMPORAL_ADDRESS: '127.0.0.1:1' } });
    const cases: Array<[string[], RegExp]> = [
      [['org', 'create', 'north'], /--name is required/],
      [['org', 'create', 'North', '--name', 'x'], /not an organisation id/],
      [['user', 'create', 'bob', '--org', 'north', '--role', 'boss'], /--role must be one of/],
      [['collab', 'create', 'x', '--members', 'a,a'], /lists "a" twice/],
      [['site', 'enrol', '--org', 'north'], /unknown subcommand "enrol"/],
      [['server', 'start', '--port', '70000'], /--port must be a whole number/],
      [['login', '--username', 'admin', '--password', 'x'], /Unknown option '--password'/],
    ];
    const answers = await Promise.all(cases.map(([args]) => run(args)));
    answers.forEach((ran, i) => {
      const [args, message] = cases[i]!;
      expect(ran.code, args.join(' ')).toBe(2);
      expect(ran.stderr).toMatch(message);
    });
    const loggedOut = await run(['org', 'create', 'mid', '--name', 'Mid'], { env: { ...env, PARLEY_CONFIG_DIR: join(root, 'nobody') } });
    expect(loggedOut.code).toBe(1);
    expect(loggedOut.stderr).toMatch(/not logged in .* Run: parley login --api URL --username NAME/);
    const refused = await noTemporal;
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/Temporal did not answer at 127\.0\.0\.1:1 \(TEMPORAL_ADDRESS\)\. The server needs it to start runs\. Start a Temporal server/);
  });

  it('stops cleanly on SIGTERM with exit code 0', async () => {
    expect(await server.stop('SIGTERM')).toBe(0);
    expect(server.stderr()).toMatch(/Server stopped\./);
  });
});
