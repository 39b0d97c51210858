/**
 * `parley dev` as a data scientist uses it, each command its own process as typed: up a
 * federation that outlives the command, see it all alive, scaffold and build a JS algorithm,
 * allow it at every site, `up` again (restarts the sites whose site.yaml changed), run a chain
 * with it through `parley run --wait`, check each site's mean against its registry, then down:
 * no process, container or volume left.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createDockerClient } from '../../provision/docker-engine.ts';
import { registryPath } from '../../test/support/statistics-steps.ts';
import { parleyProcess } from '../../test/support/parley-cli.ts';
import type { DevStatus } from './dev-status.ts';

const PREFIX = `devt${process.pid % 10_000}`;
const SITES = ['a', 'b', 'c'] as const;
const IMAGE = `parley-test/${PREFIX}-mean`;

function plainMean(csv: string, column: string): { count: number; mean: number } {
  const [header, ...lines] = csv.split(/\r?\n/).filter((l) => l !== '');
  const index = header!.split(',').indexOf(column);
  const xs = lines.map((l) => (l.split(',')[index] ?? '').trim()).filter((c) => c !== '').map(Number).filter(Number.isFinite);
  return { count: xs.length, mean: xs.reduce((a, b) => a + b, 0) / xs.length };
}

async function ok(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const ran = await parleyProcess(args, { env });
  if (ran.code !== 0) throw new Error(`parley ${args.join(' ')} exited ${ran.code}:\n${ran.stderr}`);
  return ran.stdout;
}

/** True while `pid` runs; an exited process not yet reaped by its new parent (a zombie, state Z) does not. */
async function running(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  return stat !== undefined && stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
}

let root: string | undefined;
let dir: string;

afterAll(async () => {
  // Whatever a failed test left running.
  if (root) {
    await parleyProcess(['dev', 'down', '--dir', dir, '--purge']);
    await rm(root, { recursive: true, force: true });
  }
});

describe('parley dev', () => {
  it('keeps a federation running between commands: build, allow, run, then down leaves nothing', async () => {
    root = await mkdtemp(join(tmpdir(), 'parley-dev-'));
    dir = join(root, 'dev');
    await ok(['dev', 'up', '--dir', dir, '--prefix', PREFIX]);
    const status = JSON.parse(await ok(['dev', 'status', '--dir', dir, '--json'])) as DevStatus;
    expect(status.processes.map((p) => [p.name, p.alive])).toEqual([
      ['temporal', true], ['api', true], ['coordinator', true], ...SITES.map((l) => [`site ${PREFIX}-${l}`, true]),
    ]);
    const again = await ok(['dev', 'up', '--dir', dir]);
    expect(again).toContain('is already up');

    const algo = join(root, 'algo');
    await ok(['algorithm', 'new', algo, '--lang', 'js', '--name', IMAGE]);
    await ok(['algorithm', 'build', algo]);
    for (const site of status.sites) await ok(['site', 'allow', IMAGE, '--release', '--config', site.config]);
    // The sites apply site.yaml on restart: `up` restarts exactly those that changed.
    expect(await ok(['dev', 'up', '--dir', dir])).toContain('is already up');
    const allowed = JSON.parse(await ok(['dev', 'status', '--dir', dir, '--json'])) as DevStatus;
    expect(allowed.processes.every((p) => p.alive)).toBe(true);
    for (const site of allowed.sites) expect(site.allowedImages.map((i) => i.name)).toEqual([IMAGE]);

    const chain = join(root, 'chain.yaml');
    await writeFile(chain, ['version: 1', 'name: dev-mean', 'steps:', '  - id: mean', `    image: ${IMAGE}`, '    datasets: [patients]', '    args: { column: lab_value }', ''].join('\n'));
    const researcherEnv = { ...process.env, PARLEY_CONFIG_DIR: status.researcher.configDir };
    const out = await ok(['run', chain, '--key', status.researcher.keyFile, '--collab', status.collaboration, '--sites', status.sites.map((s) => s.org).join(','), '--wait', '--json'], researcherEnv);
    const { result } = JSON.parse(out.trim().split('\n').at(-1)!) as { result: { outputs: Array<{ org: string; reading: { content: { count: number; mean: number } } }> } };
    expect(result.outputs).toHaveLength(3);
    for (const output of result.outputs) {
      const plain = plainMean(await readFile(registryPath(output.org.slice(-1) as 'a' | 'b' | 'c'), 'utf8'), 'lab_value');
      expect(output.reading.content.count).toBe(plain.count);
      expect(output.reading.content.mean).toBeCloseTo(plain.mean, 9);
    }

    await ok(['dev', 'down', '--dir', dir]);
    for (const p of [...status.processes, ...allowed.processes]) expect(await running(p.pid), `${p.name} still runs`).toBe(false);
    const docker = createDockerClient();
    for (const site of status.sites) {
      const filters = JSON.stringify({ label: [`parley.site=${site.org}`] });
      expect(await docker.listContainers({ all: true, filters })).toEqual([]);
      expect((await docker.listVolumes({ filters })).Volumes ?? []).toEqual([]);
    }
  }, 600_000);
});
