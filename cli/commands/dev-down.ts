/**
 * `parley dev down`: stops every process `parley dev up` started (site workers first, so they
 * finish or cancel their steps, then the coordinator, the API, Temporal), each with SIGTERM and
 * SIGKILL after a grace period; removes the run containers and volumes Parley made for these
 * sites (labelled parley.site=<org>); keeps DIR's state (keys, database, histories) unless --purge.
 */
import { rm } from 'node:fs/promises';
import { createDockerClient } from '../../provision/docker-engine.ts';
import { stopProcess } from '../lib/dev-process.ts';
import { devDir, readDevState, writeDevState } from '../lib/dev-state.ts';
import { parseVerb } from '../lib/session.ts';
import type { SiteVerb as Verb } from '../lib/site-verb.ts';

const usage = [
  'Usage: parley dev down [--dir DIR] [--purge] [--json]',
  '',
  'Stops the dev federation: every process `parley dev up` started (SIGTERM, SIGKILL after a grace',
  'period), then removes the containers and volumes Parley created for its sites. Keeps DIR (keys,',
  'the API\'s database, Temporal\'s histories), so the next `parley dev up` meets the same federation.',
  '',
  '  --dir DIR  the dev federation\'s directory (default ./.parley-dev)',
  '  --purge    remove DIR as well: the next `up` starts afresh',
  '  --json     print one JSON object: what was stopped and removed',
].join('\n');

/** A site worker finishes its step in its shutdownGraceSeconds (10 in a dev site.yaml); the rest stop at once. */
const GRACE_MS = { site: 20_000, other: 10_000 };

/** Removes the containers, then the volumes, labelled for these sites. Returns how many of each. */
async function removeSiteResources(orgs: string[]): Promise<{ containers: number; volumes: number }> {
  const docker = createDockerClient();
  let containers = 0;
  let volumes = 0;
  for (const org of orgs) {
    const filters = JSON.stringify({ label: [`parley.site=${org}`] });
    for (const c of await docker.listContainers({ all: true, filters })) {
      await docker.getContainer(c.Id).remove({ force: true, v: true });
      containers++;
    }
    for (const v of (await docker.listVolumes({ filters })).Volumes ?? []) {
      await docker.getVolume(v.Name).remove({ force: true });
      volumes++;
    }
  }
  return { containers, volumes };
}

export const devDown: Verb = {
  verb: 'down',
  summary: 'stop the dev federation and remove its run containers and volumes',
  usage,
  async run(argv, io) {
    const { values } = parseVerb(argv, 'down', [], { dir: { type: 'string' }, purge: { type: 'boolean', default: false }, json: { type: 'boolean', default: false } });
    const dir = devDir(values.dir);
    const state = await readDevState(dir);
    const stopped: Array<{ name: string; pid: number; killed: boolean }> = [];
    if (state !== undefined) {
      const sites = state.processes.filter((p) => p.name.startsWith('site '));
      // Sites together (each waits on its own step), then the central parts in reverse order of start.
      const results = await Promise.all(sites.map(async (p) => ({ name: p.name, pid: p.pid, killed: await stopProcess(p, GRACE_MS.site) })));
      stopped.push(...results);
      for (const p of state.processes.filter((q) => !q.name.startsWith('site ')).reverse()) stopped.push({ name: p.name, pid: p.pid, killed: await stopProcess(p, GRACE_MS.other) });
      state.processes = [];
      await writeDevState(dir, state);
    }
    const removed = state ? await removeSiteResources(state.sites.map((s) => s.org)) : { containers: 0, volumes: 0 };
    if (values.purge) await rm(dir, { recursive: true, force: true });
    if (values.json) {
      io.out(JSON.stringify({ dir, stopped, removed, purged: values.purge }));
      return 0;
    }
    if (state === undefined) io.out(`There is no dev federation in ${dir}: nothing to stop.`);
    for (const s of stopped) io.out(`Stopped ${s.name} (pid ${s.pid})${s.killed ? ' with SIGKILL: it did not stop on SIGTERM in time' : ''}.`);
    io.out(`Removed ${removed.containers} container(s) and ${removed.volumes} volume(s) of the dev sites.`);
    io.out(values.purge ? `Removed ${dir}.` : `Kept ${dir} (keys, database, histories): \`parley dev up\` starts the same federation again; --purge removes it.`);
    return 0;
  },
};
