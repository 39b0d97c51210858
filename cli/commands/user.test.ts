/**
 * A server admin disables a user and revokes its tokens, and a user logs out, with the real
 * `parley` in child processes against a central server (startCentralServer over PGlite in memory,
 * the test run's Temporal server). Each claim is checked by the token it is about being refused.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createApiClient, type ApiClient } from '../../activities/api-client.ts';
import { startCentralServer, type CentralServer } from '../../api/central-server.ts';
import { testNamespace } from '../../test/support/test-namespace.ts';

const bin = fileURLToPath(new URL('../../bin/parley.js', import.meta.url));
const PASSWORD = 'a passphrase for these users';
let root: string;
let connection: Connection;
let server: CentralServer;
let admin: ApiClient;

function parley(args: string[], configDir: string, stdin = ''): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { env: { ...process.env, PARLEY_CONFIG_DIR: configDir }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.stdin.end(stdin);
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const meStatus = async (token: string) => (await fetch(`${server.url}/v1/me`, { headers: { authorization: `Bearer ${token}` } })).status;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'parley-user-cli-'));
  connection = await Connection.connect({ address: inject('temporalAddress') });
  server = await startCentralServer({ stateDir: join(root, 'server'), inMemory: true, temporal: new Client({ connection, namespace: testNamespace(import.meta.url) }), adminPassword: PASSWORD, quiet: true, passwordCost: { log2N: 10, r: 8, p: 1 } });
  admin = createApiClient(server.url, (await createApiClient(server.url).login('admin', PASSWORD)).accessToken);
  await admin.createOrganisation({ id: 'north', name: 'North registry' });
  for (const username of ['bea', 'cal']) await admin.createUser({ username, password: PASSWORD, orgId: 'north', role: 'researcher' });
  const login = await parley(['login', '--api', server.url, '--username', 'admin', '--password-stdin'], join(root, 'admin'), `${PASSWORD}\n`);
  expect(login.code, login.stderr).toBe(0);
});

afterAll(async () => {
  await server?.close();
  await connection?.close();
  await rm(root, { recursive: true, force: true });
});

describe('parley user disable / enable / revoke-tokens, parley logout', () => {
  it('disables a user: its token stops working at once and it cannot log in; enabled, it logs in again', async () => {
    const token = (await createApiClient(server.url).login('bea', PASSWORD)).accessToken;
    expect(await meStatus(token)).toBe(200);
    const disabled = await parley(['user', 'disable', 'bea'], join(root, 'admin'));
    expect(disabled.code, disabled.stderr).toBe(0);
    expect(disabled.stdout).toMatch(/User "bea" disabled: it cannot log in, and its tokens no longer work/);
    expect(await meStatus(token)).toBe(401);
    const refused = await parley(['login', '--api', server.url, '--username', 'bea', '--password-stdin'], join(root, 'bea'), `${PASSWORD}\n`);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/This user is disabled and cannot log in/);

    const [enabled, unknown] = await Promise.all([parley(['user', 'enable', 'bea', '--json'], join(root, 'admin')), parley(['user', 'disable', 'nobody'], join(root, 'admin'))]);
    expect(JSON.parse(enabled.stdout)).toMatchObject({ user: { username: 'bea', disabled: false } });
    expect(await meStatus(token)).toBe(401);
    expect(await meStatus((await createApiClient(server.url).login('bea', PASSWORD)).accessToken)).toBe(200);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/No user "nobody"/);
  });

  it('logs out: the stored token is revoked at the server and its file removed; revoke-tokens ends every other session', async () => {
    const dir = join(root, 'cal');
    const login = await parley(['login', '--api', server.url, '--username', 'cal', '--password-stdin', '--json'], dir, `${PASSWORD}\n`);
    expect(login.code, login.stderr).toBe(0);
    const { credentialsFile } = JSON.parse(login.stdout) as { credentialsFile: string };
    const { readFile } = await import('node:fs/promises');
    const { token } = JSON.parse(await readFile(credentialsFile, 'utf8')) as { token: string };
    const other = (await createApiClient(server.url).login('cal', PASSWORD)).accessToken;

    const out = await parley(['logout'], dir);
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout).toMatch(/the token is revoked/);
    expect(await meStatus(token)).toBe(401);
    await expect(stat(credentialsFile)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await meStatus(other)).toBe(200);

    const revoked = await parley(['user', 'revoke-tokens', 'cal'], join(root, 'admin'));
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(await meStatus(other)).toBe(401);
  });
});
