import { spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { once } from 'node:events';
import { hostname } from 'node:os';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDocker } from '../../test/support/docker-images.ts';
import { ensureBaseImage } from '../../algorithms/base-image.ts';
import { ensureRunVolume, removeRunVolumes, runVolumeName, sweepOrphans } from './run-volume.ts';

let docker: Docker;
let baseImage: string;
// Sites of their own, so the sweep cannot touch what other test files run at the same time.
const suffix = randomInt(1e6);
const north = `north-${suffix}`;
const east = `east-${suffix}`;

beforeAll(async () => {
  docker = testDocker();
  baseImage = (await ensureBaseImage(docker)).ref;
});

afterAll(async () => {
  await removeRunVolumes(docker, { org: north });
  await removeRunVolumes(docker, { org: east });
});

/**
 * A container as a crashed worker would leave it: labelled with the run, holding the run volume
 * (which then cannot be removed before it), never removed.
 */
async function leftoverContainer(runId: string, org: string): Promise<void> {
  await docker.createContainer({
    Image: baseImage,
    Cmd: ['node', '-e', '0'],
    Labels: { 'parley.run': runId, 'parley.site': org },
    HostConfig: { NetworkMode: 'none', Mounts: [{ Type: 'volume', Source: runVolumeName(runId, org), Target: '/run/parley/volume' }] },
  });
}

async function resourcesOf(org: string, runId?: string): Promise<{ containers: number; volumes: number }> {
  const filters = { label: [`parley.site=${org}`, ...(runId ? [`parley.run=${runId}`] : [])] };
  const containers = await docker.listContainers({ all: true, filters });
  const { Volumes } = await docker.listVolumes({ filters });
  return { containers: containers.length, volumes: (Volumes ?? []).length };
}

describe('run volumes', () => {
  it('names a run volume by site and run, one way only', () => {
    expect(runVolumeName('run-1', 'north')).toBe('parley_north_run-1');
    expect(runVolumeName('b-c', 'a')).not.toBe(runVolumeName('c', 'a-b'));
    expect(() => runVolumeName('../etc', 'north')).toThrow(TypeError);
    expect(() => runVolumeName('run-1', 'North_1')).toThrow(TypeError);
  });

  it('creates the run volume once, labelled with run and site', async () => {
    const name = await ensureRunVolume(docker, 'run-a', north);
    expect(await ensureRunVolume(docker, 'run-a', north)).toBe(name);
    const info = await docker.getVolume(name).inspect();
    expect(info.Labels).toEqual({ 'parley.run': 'run-a', 'parley.site': north, 'parley.owner': `${hostname()}/${process.pid}` });
  });

  it('removes a run\'s volumes and leftover containers, and removing again is a no-op', async () => {
    await ensureRunVolume(docker, 'run-b', north);
    await leftoverContainer('run-b', north);
    await ensureRunVolume(docker, 'run-c', north);

    expect(await removeRunVolumes(docker, { runId: 'run-b', org: north })).toEqual({ containersRemoved: 1, volumesRemoved: 1 });
    expect(await resourcesOf(north, 'run-b')).toEqual({ containers: 0, volumes: 0 });
    expect(await resourcesOf(north, 'run-c')).toEqual({ containers: 0, volumes: 1 });
    expect(await removeRunVolumes(docker, { runId: 'run-b', org: north })).toEqual({ containersRemoved: 0, volumesRemoved: 0 });
  });

  it('sweeps only this site\'s orphans, leaving live runs and other sites alone', async () => {
    await ensureRunVolume(docker, 'live', north);
    await ensureRunVolume(docker, 'dead', north);
    await leftoverContainer('dead', north);
    await ensureRunVolume(docker, 'dead', east);
    await leftoverContainer('dead', east);

    const swept = await sweepOrphans(docker, north, (runId) => runId === 'live');

    expect(swept).not.toContain('live');
    expect(swept).toContain('dead');
    expect(await resourcesOf(north, 'dead')).toEqual({ containers: 0, volumes: 0 });
    expect(await resourcesOf(north, 'live')).toEqual({ containers: 0, volumes: 1 });
    expect(await resourcesOf(east, 'dead')).toEqual({ containers: 1, volumes: 1 });
  });

  it('leaves alone what another running process on this machine made (a second demo\'s sites), and sweeps it once that process is gone', async () => {
    // Another process, as a second `parley demo` would be: it made a run volume of the same site.
    const other = spawn('sleep', ['60'], { stdio: 'ignore' });
    await once(other, 'spawn');
    const theirs = runVolumeName('theirs', north);
    await docker.createVolume({ Name: theirs, Labels: { 'parley.run': 'theirs', 'parley.site': north, 'parley.owner': `${hostname()}/${other.pid}` } });

    // Its run is not one this worker's Temporal knows (every run looks dead to it), yet it stays.
    expect(await sweepOrphans(docker, north, () => false)).not.toContain('theirs');
    expect(await resourcesOf(north, 'theirs')).toEqual({ containers: 0, volumes: 1 });

    other.kill('SIGKILL');
    await once(other, 'exit');
    expect(await sweepOrphans(docker, north, () => false)).toContain('theirs');
    expect(await resourcesOf(north, 'theirs')).toEqual({ containers: 0, volumes: 0 });
  });
});
