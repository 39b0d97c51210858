/**
 * The central server's command line as an operator uses it: the real `parley server start` in a
 * child process (PGlite in a temporary state directory, the test run's Temporal server), then
 * `parley login`, `org create`, `user create`, `collab create` and `site register` against it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { writeKeyFile } from '../../activities/key-file.ts';
import { generateOrgKeys, publicKeysOf } from '../../crypto/index.ts';

const bin = fileURLToPath(new URL('../../bin/parley.js', import.meta.url));

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

let root: string;
let env: NodeJS.ProcessEnv;
let server: ChildProcess;
let serverStdout = '';
let serverStderr = '';
let serverExit: Promise<number | null>;
let started: { url: string; admin: { username: string; orgId: string; created: boolean; password: string } };
/** Everything every command printed, to look for secrets in. */
const printed: string[] = [];

function parley(args: string[], options: { stdin?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { env: options.env ?? env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.stdin.end(options.stdin ?? '');
    child.on('error', reject);
    child.on('close', (code) => {
      printed.push(stdout, stderr);
      resolve({ code, stdout, stderr });
    });
  });
}

const jsonLine = <T = Record<string, unknown>>(ran: Ran) => JSON.parse(ran.stdout.trim().split('\n').at(-1)!) as T;

async function writeJson(name: string, value: unknown): Promise<string> {
  const file = join(root, name);
  await writeFile(file, JSON.stringify(value));
  return file;
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'parley-server-cli-'));
  env = { ...process.env, TEMPORAL_ADDRESS: inject('temporalAddress'), PARLEY_CONFIG_DIR: join(root, 'config') };
  // PGlite under the state directory, and a generated admin password.
  delete env.DATABASE_URL;
  delete env.PARLEY_ADMIN_PASSWORD;
  server = spawn(process.execPath, [bin, 'server', 'start', '--port', '0', '--json', '--state-dir', join(root, 'state')], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  serverExit = new Promise((resolve) => server.on('exit', (code) => resolve(code)));
  server.stderr!.on('data', (chunk: Buffer) => (serverStderr += chunk.toString('utf8')));
  started = await new Promise((resolve, reject) => {
    server.stdout!.on('data', (chunk: Buffer) => {
      serverStdout += chunk.toString('utf8');
      if (serverStdout.includes('\n')) resolve(JSON.parse(serverStdout.split('\n')[0]!));
    });
    void serverExit.then((code) => reject(new Error(`parley server start exited (${code}) before listening:\n${serverStderr}`)));
  });
});

afterAll(async () => {
  if (server.exitCode === null && server.signalCode === null) server.kill('SIGKILL');
  await rm(root, { recursive: true, force: true });
});

describe('parley server start, login and the admin commands', () => {
  it('prints its URL and, having created the admin, the generated password once', async () => {
    expect(started.url).toMatch(/^http:\/\/127\.0\.0\.1:[0-9]+$/);
    expect(started.admin).toMatchObject({ username: 'admin', orgId: 'central', created: true });
    expect(started.admin.password.length).toBeGreaterThanOrEqual(12);
    expect((await fetch(`${started.url}/healthz`)).status).toBe(200);
    expect(serverStdout.split(started.admin.password)).toHaveLength(2);
    expect(serverStderr).not.toContain(started.admin.password);
  });

  it('logs in with the password from stdin and keeps the token in a file only its owner can read', async () => {
    const ran = await parley(['login', '--api', started.url, '--username', 'admin', '--password-stdin', '--json'], { stdin: `${started.admin.password}\n` });
    expect(ran.code, ran.stderr).toBe(0);
    expect(jsonLine(ran)).toMatchObject({ api: started.url, username: 'admin', orgId: 'central', role: 'admin' });
    const file = join(root, 'config', 'credentials.json');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const stored = JSON.parse(await readFile(file, 'utf8'));
    expect(stored).toMatchObject({ api: started.url, username: 'admin', orgId: 'central', role: 'admin' });
    expect(Date.parse(stored.expiresAt)).toBeGreaterThan(Date.now());

    const wrong = await parley(['login', '--api', started.url, '--username', 'admin'], { stdin: 'not-the-password\n' });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/username or password is wrong/);
  });

  it('registers organisations with their public keys, refusing a file that holds a private key', async () => {
    for (const id of ['north', 'south', 'east']) {
      const orgKeys = await generateOrgKeys(id);
      // The organisation's own key file, as its site would keep it: it signs the site's enrolment.
      await writeKeyFile(join(root, `${id}.keys.json`), orgKeys);
      const keys = await writeJson(`${id}.public.json`, publicKeysOf(orgKeys));
      const ran = await parley(['org', 'create', id, '--name', `${id} registry`, '--keys', keys, '--json']);
      expect(ran.code, ran.stderr).toBe(0);
      expect(jsonLine(ran)).toMatchObject({ id, name: `${id} registry`, keys: { receive: { thumbprint: expect.any(String) }, sign: { thumbprint: expect.any(String) } } });
    }
    const keyFile = await writeJson('west.keys.json', await generateOrgKeys('west'));
    const refused = await parley(['org', 'create', 'west', '--name', 'West', '--keys', keyFile]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/holds private key material \(receive\.privateJwk, sign\.privateJwk\); nothing was sent/);
    const { token } = JSON.parse(await readFile(join(root, 'config', 'credentials.json'), 'utf8'));
    const west = await fetch(`${started.url}/v1/organisations/west`, { headers: { authorization: `Bearer ${token}` } });
    expect(west.status).toBe(404);
  });

  it('creates a researcher, a collaboration and a site whose credential is printed once and works', async () => {
    const password = 'a researcher passphrase';
    const user = await parley(['user', 'create', 'alice', '--org', 'north', '--role', 'researcher', '--password-stdin'], { stdin: `${password}\n` });
    expect(user.code, user.stderr).toBe(0);
    expect(user.stdout).toMatch(/User "alice" created: researcher of "north"/);
    const alice = await fetch(`${started.url}/v1/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'alice', password }) });
    expect(alice.status).toBe(200);

    const collab = await parley(['collab', 'create', 'Cancer registries', '--members', 'north,south,east', '--json']);
    expect(collab.code, collab.stderr).toBe(0);
    const { id: collabId, members } = jsonLine<{ id: string; members: Array<{ orgId: string }> }>(collab);
    expect(members.map((m) => m.orgId).sort()).toEqual(['east', 'north', 'south']);

    const site = await parley(['site', 'register', '--collab', collabId, '--org', 'south', '--key', join(root, 'south.keys.json')]);
    expect(site.code, site.stderr).toBe(0);
    expect(site.stdout).toMatch(/shown only this once/);
    const credential = site.stdout.trim().split('\n').at(-1)!.trim();
    expect(site.stdout.split(credential)).toHaveLength(2);
    const me = await fetch(`${started.url}/v1/sites/me`, { headers: { authorization: `Bearer ${credential}` } });
    expect(await me.json()).toMatchObject({ orgId: 'south', collaborationId: collabId });

    // Secrets appear only where they were meant to: the password never, the token never.
    const { token } = JSON.parse(await readFile(join(root, 'config', 'credentials.json'), 'utf8'));
    for (const text of [...printed, serverStderr]) {
      expect(text).not.toContain(token);
      expect(text).not.toContain(password);
      expect(text).not.toContain(started.admin.password);
    }
    expect(printed.filter((text) => text.includes(credential))).toEqual([site.stdout]);
  });

  it('answers bad usage with exit code 2; a missing login or Temporal with exit code 1 saying what to do', async () => {
    const noTemporal = parley(['server', 'start', '--port', '0', '--state-dir', join(root, 'other')], { env: { ...env, TEMPORAL_ADDRESS: '127.0.0.1:1' } });
    const cases: Array<[string[], RegExp]> = [
      [['org', 'create', 'north'], /--name is required/],
      [['org', 'create', 'North', '--name', 'x'], /not an organisation id/],
      [['user', 'create', 'bob', '--org', 'north', '--role', 'boss'], /--role must be one of/],
      [['collab', 'create', 'x', '--members', 'a,a'], /lists "a" twice/],
      [['site', 'enrol', '--org', 'north'], /unknown subcommand "enrol"/],
      [['server', 'start', '--port', '70000'], /--port must be a whole number/],
      [['login', '--username', 'admin', '--password', 'x'], /Unknown option '--password'/],
    ];
    const answers = await Promise.all(cases.map(([args]) => parley(args)));
    answers.forEach((ran, i) => {
      const [args, message] = cases[i]!;
      expect(ran.code, args.join(' ')).toBe(2);
      expect(ran.stderr).toMatch(message);
    });
    const loggedOut = await parley(['org', 'create', 'mid', '--name', 'Mid'], { env: { ...env, PARLEY_CONFIG_DIR: join(root, 'nobody') } });
    expect(loggedOut.code).toBe(1);
    expect(loggedOut.stderr).toMatch(/not logged in .* Run: parley login --api URL --username NAME/);
    const refused = await noTemporal;
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/Temporal did not answer at 127\.0\.0\.1:1 \(TEMPORAL_ADDRESS\)\. The server needs it to start runs\. Start a Temporal server/);
  });

  it('stops cleanly on SIGTERM with exit code 0', async () => {
    server.kill('SIGTERM');
    expect(await serverExit).toBe(0);
    expect(serverStderr).toMatch(/Server stopped\./);
  });
});
