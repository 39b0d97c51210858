/**
 * docker-compose.yml, validated by Docker Compose itself (`docker compose config`, or the older
 * `docker-compose config`), then read back: the topology the README promises is the one the file
 * describes. No image is pulled or built here (this machine has no registry); the topology itself
 * runs, as separate processes, in test/e2e/topology.test.ts. Skipped only when no Compose is
 * installed (.ci/run installs it).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const repo = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');
const SITES = ['site-a', 'site-b', 'site-c'];

/** The Compose command on this machine: the v2 plugin, else docker-compose v1; undefined when neither. */
async function composeCommand(): Promise<string[] | undefined> {
  for (const candidate of [['docker', 'compose'], ['docker-compose']]) {
    try {
      await run(candidate[0]!, [...candidate.slice(1), 'version'], { timeout: 30_000 });
      return candidate;
    } catch {
      // not this one
    }
  }
  return undefined;
}

const compose = await composeCommand();
const settings = { POSTGRES_PASSWORD: 'pg-secret-for-config', PARLEY_ADMIN_PASSWORD: 'an admin passphrase', PARLEY_ROOT: repo, DOCKER_GID: '998' };

// An empty env file: an operator's own .env in the checkout must not fill in what a test leaves out.
let scratch: string;
let emptyEnvFile: string;
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'parley-compose-'));
  emptyEnvFile = join(scratch, 'empty.env');
  await writeFile(emptyEnvFile, '');
});
afterAll(async () => {
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

async function config(env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  // Only what is given: nor may the shell's environment.
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(POSTGRES_|PARLEY_|DOCKER_GID|TEMPORAL_VERSION|COMPOSE_)/.test(k)));
  try {
    const { stdout, stderr } = await run(compose![0]!, [...compose!.slice(1), '--file', `${repo}/docker-compose.yml`, '--project-directory', repo, '--env-file', emptyEnvFile, 'config'], { env: { ...clean, ...env }, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const { code, stdout, stderr } = err as { code?: number; stdout?: string; stderr?: string };
    return { code: code ?? 1, stdout: stdout ?? '', stderr: stderr ?? '' };
  }
}

interface Mount {
  source: string;
  target: string;
  readOnly: boolean;
}

/** Volumes as either Compose writes them: v2's long form, v1's "source:target[:mode]" strings. */
function mountsOf(service: { volumes?: Array<string | { source: string; target: string; read_only?: boolean }> }): Mount[] {
  return (service.volumes ?? []).map((v) => {
    if (typeof v !== 'string') return { source: v.source, target: v.target, readOnly: v.read_only === true };
    const [source, target, mode] = v.split(':') as [string, string, string | undefined];
    return { source, target, readOnly: mode === 'ro' };
  });
}

describe.skipIf(compose === undefined)(`docker-compose.yml (validated by ${compose?.join(' ') ?? 'no Docker Compose: install docker-compose-plugin or docker-compose'})`, () => {
  it('is valid, and describes PostgreSQL, Temporal on it, the API, the coordinator and three site workers', async () => {
    const ran = await config(settings);
    expect(ran.code, ran.stderr).toBe(0);
    const file = parse(ran.stdout) as { services: Record<string, Record<string, unknown> & { environment?: Record<string, string>; command?: string[] }> };
    const { services } = file;
    expect(Object.keys(services).sort()).toEqual(['api', 'coordinator', 'postgres', 'site-a', 'site-b', 'site-c', 'temporal']);

    expect(services.temporal!.environment).toMatchObject({ DB: 'postgres12', POSTGRES_SEEDS: 'postgres' });
    expect(services.api!.command).toEqual(expect.arrayContaining(['server', 'start']));
    expect(services.api!.environment).toMatchObject({ DATABASE_URL: 'postgres://parley:pg-secret-for-config@postgres:5432/parley', TEMPORAL_ADDRESS: 'temporal:7233' });
    expect(services.coordinator!.command).toEqual(['coordinator', 'start']);

    const keyVolumes = new Set<string>();
    for (const name of SITES) {
      const site = services[name]!;
      const org = `registry-${name.slice(-1)}`;
      expect(site.command).toEqual(['site', 'start', '--config', `${repo}/deploy/sites/${org}/site.yaml`, '--json-logs']);
      const mounts = mountsOf(site as Parameters<typeof mountsOf>[0]);
      expect(mounts).toContainEqual({ source: '/var/run/docker.sock', target: '/var/run/docker.sock', readOnly: false });
      const keys = mounts.find((m) => m.target === '/var/lib/parley/keys');
      expect(keys, `${name} has a key volume`).toBeDefined();
      keyVolumes.add(keys!.source);
      // The engine resolves bind sources on the host: state and data sit at the same path inside.
      expect(mounts).toContainEqual({ source: `${repo}/deploy/sites/${org}`, target: `${repo}/deploy/sites/${org}`, readOnly: false });
      const data = `${repo}/examples/data/${org}.csv`;
      expect(mounts).toContainEqual({ source: data, target: data, readOnly: true });
      expect(existsSync(data), `${data} exists`).toBe(true);
      expect(site.group_add).toEqual(['998']);
    }
    expect(keyVolumes.size).toBe(SITES.length);
  });

  it('refuses to start without the settings it needs, naming them', async () => {
    const { PARLEY_ROOT: _root, ...withoutRoot } = settings;
    const ran = await config(withoutRoot);
    expect(ran.code).not.toBe(0);
    expect(ran.stderr).toMatch(/PARLEY_ROOT/);
    const { POSTGRES_PASSWORD: _pg, ...withoutPassword } = settings;
    expect((await config(withoutPassword)).stderr).toMatch(/set POSTGRES_PASSWORD in \.env/);
  });
});

describe('the Parley image (Dockerfile)', () => {
  it('runs as a non-root user from a slim Node base with production dependencies only', async () => {
    const dockerfile = await readFile(`${repo}/Dockerfile`, 'utf8');
    const instructions = dockerfile.split('\n').filter((l) => l !== '' && !l.trimStart().startsWith('#'));
    // A Node in support: the major is one package.json's engines names (Node 20 left support in April 2026).
    const from = /^FROM node:(\d+)-slim$/.exec(instructions[0] ?? '');
    expect(from?.[1]).toBeDefined();
    const engines = (JSON.parse(await readFile(`${repo}/package.json`, 'utf8')) as { engines: { node: string } }).engines.node;
    expect(engines.split('||').map((range) => /\d+/.exec(range)?.[0])).toContain(from?.[1]);
    expect(dockerfile).toMatch(/RUN npm ci --omit=dev/);
    expect(instructions.filter((l) => l.startsWith('USER ')).at(-1)).toBe('USER node');
    const ignored = (await readFile(`${repo}/.dockerignore`, 'utf8')).split('\n');
    expect(ignored).toEqual(expect.arrayContaining(['node_modules', '.git', '**/*.test.ts', 'test', 'bench', 'examples/data', '.env', 'deploy/sites']));
  });
});
