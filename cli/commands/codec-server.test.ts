/**
 * `parley codec-server` as its user starts it (the real `parley` in a child process): it prints
 * its token once, answers only with it, and will not listen on the network with --key unless told.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeKeyFile } from '../../activities/key-file.ts';
import { generateOrgKeys } from '../../crypto/index.ts';

const bin = fileURLToPath(new URL('../../bin/parley.js', import.meta.url));
let root: string;
let keyFile: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'parley-codec-cli-'));
  keyFile = join(root, 'keys.json');
  await writeKeyFile(keyFile, await generateOrgKeys('codec-cli'));
});
afterAll(async () => rm(root, { recursive: true, force: true }));

/** Runs `parley codec-server …` until `until` matches its stdout (then leaves it running) or it exits. */
function start(args: string[], until?: RegExp) {
  const child = spawn(process.execPath, [bin, 'codec-server', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
      if (until?.test(stdout)) resolve({ code: null, stdout, stderr });
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
  return { child, done };
}

describe('parley codec-server', () => {
  it('refuses to listen on 0.0.0.0 with --key, saying why and what to pass instead', async () => {
    const hosts = ['0.0.0.0', '192.0.2.10'];
    const answers = await Promise.all(hosts.map((host) => start(['--host', host, '--port', '0', '--key', keyFile]).done));
    for (const [i, ran] of answers.entries()) {
      const host = hosts[i]!;
      expect(ran.code).toBe(2);
      expect(ran.stderr).toMatch(new RegExp(`Not listening on ${host.replace(/\./g, '\\.')} with --key: it would decrypt for anyone on the network`));
      expect(ran.stderr).toMatch(/--allow-remote/);
    }
  });

  it('prints a fresh token once and answers only calls that carry it', async () => {
    const { child, done } = start(['--port', '0', '--key', keyFile], /Temporal CLI: .*\n/);
    try {
      const { stdout } = await done;
      const token = /Token \(shown only now\): (\S+)/.exec(stdout)![1]!;
      const url = /Codec server at (http:\/\/\S+) /.exec(stdout)![1]!;
      expect(token).toMatch(/^[\w-]{43}$/);
      expect(stdout).toContain(`${url}/t/${token}`);
      const body = JSON.stringify({ payloads: [] });
      const headers = { 'content-type': 'application/json' };
      expect((await fetch(`${url}/decode`, { method: 'POST', headers, body })).status).toBe(401);
      expect((await fetch(`${url}/decode`, { method: 'POST', headers: { ...headers, authorization: `Bearer ${token}` }, body })).status).toBe(200);
      expect((await fetch(`${url}/t/${token}/decode`, { method: 'POST', headers, body })).status).toBe(200);
    } finally {
      child.kill('SIGTERM');
    }
  });

  it('takes its token from --token-file and does not print it', async () => {
    const tokenFile = join(root, 'token');
    const token = 'a'.repeat(10) + 'b'.repeat(30);
    await writeFile(tokenFile, `${token}\n`, { mode: 0o600 });
    const { child, done } = start(['--port', '0', '--token-file', tokenFile], /Token: the one in/);
    try {
      const { stdout } = await done;
      expect(stdout).not.toContain(token);
      const url = /Codec server at (http:\/\/\S+) /.exec(stdout)![1]!;
      expect((await fetch(`${url}/t/${token}/encode`, { method: 'POST', body: JSON.stringify({ payloads: [] }) })).status).toBe(200);
    } finally {
      child.kill('SIGTERM');
    }
    await writeFile(tokenFile, 'short\n');
    const short = await start(['--port', '0', '--token-file', tokenFile]).done;
    expect(short.code).toBe(2);
    expect(short.stderr).toMatch(/at least 22 characters/);
  });
});
