import type Docker from 'dockerode';
import { Label } from '../../activities/sandbox/contract.ts';

/** How many containers and volumes labelled with the run (at `site`, when given) are left on the engine (tests want 0, 0). */
export async function runLeftovers(docker: Docker, runId: string, site?: string): Promise<{ containers: number; volumes: number }> {
  const filters = JSON.stringify({ label: [`${Label.Run}=${runId}`, ...(site === undefined ? [] : [`${Label.Site}=${site}`])] });
  const containers = await docker.listContainers({ all: true, filters });
  const volumes = (await docker.listVolumes({ filters })).Volumes ?? [];
  return { containers: containers.length, volumes: volumes.length };
}
