/**
 * Sweeps what a benchmark's runs left on the Docker engine. Parley's workflows remove every
 * container and run volume themselves, so this normally finds nothing; it is here so that a run
 * that failed or was interrupted mid-benchmark does not leave a volume holding masks or shares.
 */
import type Docker from 'dockerode';
import { Label } from '../activities/sandbox/contract.ts';

export interface Leftovers {
  containers: number;
  volumes: number;
}

/** Removes the containers and volumes labelled with any of `runIds`; returns how many it found. */
export async function removeRunLeftovers(docker: Docker, runIds: readonly string[]): Promise<Leftovers> {
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
