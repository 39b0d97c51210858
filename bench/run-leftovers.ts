/**
 * Sweeps what a benchmark's runs left on the Docker engine. Parley's workflows remove every
 * container and run volume themselves, so this normally finds nothing; it is here so that a run
 * that failed or was interrupted mid-benchmark does not leave a volume holding masks or shares.
 */
import { rm } from 'node:fs/promises';
import type Docker from 'dockerode';
import { Label } from '../activities/sandbox/contract.ts';

export interface Leftovers {
  containers: number;
  volumes: number;
}

/** Removes the containers and volumes labelled with any of `runIds`; returns how many it found. */
async function removeRunLeftovers(docker: Docker, runIds: readonly string[]): Promise<Leftovers> {
  const found: Leftovers = { containers: 0, volumes: 0 };
  for (const runId of runIds) {
    const filters = JSON.stringify({ label: [`${Label.Run}=${runId}`] });
    for (const c of await docker.listContainers({ all: true, filters })) {
      found.containers += 1;
      await docker.getContainer(c.Id).remove({ force: true });
    }
    for (const v of (await docker.listVolumes({ filters })).Volumes ?? []) {
      found.volumes += 1;
      await docker.getVolume(v.Name).remove({ force: true });
    }
  }
  return found;
}

/**
 * After a benchmark: sweeps what its runs left (saying so when there was anything) and removes
 * its state directory. Returns what was found.
 */
export async function cleanUpAfterBench(docker: Docker, runIds: readonly string[], stateDir: string, log: (line: string) => void): Promise<Leftovers> {
  const found = await removeRunLeftovers(docker, runIds);
  await rm(stateDir, { recursive: true, force: true });
  if (found.containers + found.volumes > 0) log(`  removed ${found.containers} containers and ${found.volumes} volumes Parley had left behind`);
  return found;
}
