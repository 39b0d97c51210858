/**
 * The run volume: one Docker volume per (run, site), mounted at /run/parley/volume in each of
 * the run's containers at that site, and removed when the run ends. Volumes and containers carry
 * `parley.run` and `parley.site` labels, which is how removal and the start-up sweep find them
 * (names are for people; labels are the truth).
 */
import type Docker from 'dockerode';
import { isOrgId, isRunId, type OrgId } from '../../common/ids.ts';
import { Label } from './contract.ts';
import { ownedByAnotherLiveProcess, processOwner } from './owner.ts';

function checkIds(runId: string | undefined, org: OrgId): void {
  if (runId !== undefined && !isRunId(runId)) throw new TypeError(`"${runId}" is not a run id.`);
  if (!isOrgId(org)) throw new TypeError(`"${org}" is not an organisation id.`);
}

/**
 * The run volume's name for (runId, org): `parley_<org>_<runId>`. Both ids are already
 * Docker-safe, an org id has no "_" (so the name parses one way only), and the longest is
 * 7 + 40 + 1 + 128 characters, well within what the engine accepts: no hashing needed.
 * Throws TypeError for ids that do not validate.
 */
export function runVolumeName(runId: string, org: OrgId): string {
  checkIds(runId, org);
  return `parley_${org}_${runId}`;
}

function labelFilters(runId: string | undefined, org: OrgId): { label: string[] } {
  return { label: [`${Label.Site}=${org}`, ...(runId === undefined ? [] : [`${Label.Run}=${runId}`])] };
}

function isGone(err: unknown): boolean {
  const status = (err as { statusCode?: number } | null)?.statusCode;
  // 404: already removed; 409 on a container: its removal is already in progress.
  return status === 404 || status === 409;
}

/**
 * Creates the run volume for (runId, org) if it does not exist and returns its name. Creating an
 * existing volume is a no-op in the engine, so concurrent steps may both call this.
 * Throws TypeError for invalid ids.
 */
export async function ensureRunVolume(docker: Docker, runId: string, org: OrgId): Promise<string> {
  const name = runVolumeName(runId, org);
  await docker.createVolume({ Name: name, Labels: { [Label.Run]: runId, [Label.Site]: org, [Label.Owner]: processOwner() } });
  return name;
}

/**
 * Removes a run's containers (forcibly: a run that ended has nothing left to wait for) and then
 * its volumes at site `org`; without `runId`, those of every run at the site. Idempotent: what is
 * already gone counts as removed. Returns how many of each it removed.
 * Throws TypeError for invalid ids, and the engine's error for anything but "not found".
 */
export async function removeRunVolumes(docker: Docker, selector: { runId?: string; org: OrgId }): Promise<{ containersRemoved: number; volumesRemoved: number }> {
  const { runId, org } = selector;
  checkIds(runId, org);
  if (runId !== undefined) {
    // Fast path, the common case at a run's end: the site already removed each step's
    // container, so the one volume goes in one call. "In use" falls through to the full sweep.
    const removed = await docker
      .getVolume(runVolumeName(runId, org))
      .remove()
      .then(() => 1, (err: unknown) => ((err as { statusCode?: number }).statusCode === 404 ? 0 : -1));
    // Every container of a run mounts its volume, and the engine removes no volume a container
    // (running, exited or only created) still refers to: once it went, no container of the run is
    // left, and the run's end (the ring's last step waits for it) need not ask the engine again.
    if (removed === 1) return { containersRemoved: 0, volumesRemoved: 1 };
    if (removed === 0) {
      const leftover = await docker.listContainers({ all: true, filters: labelFilters(runId, org) });
      if (leftover.length === 0) return { containersRemoved: 0, volumesRemoved: removed };
    }
  }
  const filters = labelFilters(runId, org);
  // Containers first: a volume still mounted by a container cannot be removed.
  const containers = await docker.listContainers({ all: true, filters });
  const removedContainers = await Promise.all(
    containers.map((c) =>
      docker
        .getContainer(c.Id)
        .remove({ force: true })
        .then(() => 1, (err: unknown) => (isGone(err) ? 0 : Promise.reject(err))),
    ),
  );
  const { Volumes } = await docker.listVolumes({ filters });
  const removedVolumes = await Promise.all(
    (Volumes ?? []).map((v) =>
      docker
        .getVolume(v.Name)
        .remove()
        .then(() => 1, (err: unknown) => ((err as { statusCode?: number }).statusCode === 404 ? 0 : Promise.reject(err))),
    ),
  );
  const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);
  return { containersRemoved: sum(removedContainers), volumesRemoved: sum(removedVolumes) };
}

/**
 * Removes the containers and volumes of site `org` whose run is no longer live (per `isLive`),
 * as a worker does when it starts: a worker that crashed mid-run leaves them behind. Other sites'
 * resources on a shared engine are left alone, and so are those another live process made (owner.ts). Returns the run ids swept.
 * Throws TypeError for an invalid org id, and the engine's error for anything but "not found".
 */
export async function sweepOrphans(
  docker: Docker,
  org: OrgId,
  isLive: (runId: string) => boolean | Promise<boolean>,
): Promise<string[]> {
  checkIds(undefined, org);
  const filters = labelFilters(undefined, org);
  const [containers, { Volumes }] = await Promise.all([docker.listContainers({ all: true, filters }), docker.listVolumes({ filters })]);
  const runIds = new Set<string>();
  for (const labels of [...containers.map((c) => c.Labels), ...(Volumes ?? []).map((v) => v.Labels)]) {
    // Another worker of this organisation on this engine, still running (a second demo): its own.
    if (ownedByAnotherLiveProcess(labels?.[Label.Owner])) continue;
    const runId = labels?.[Label.Run];
    if (runId !== undefined && isRunId(runId)) runIds.add(runId);
  }
  const swept: string[] = [];
  for (const runId of [...runIds].sort()) {
    if (await isLive(runId)) continue;
    await removeRunVolumes(docker, { runId, org });
    swept.push(runId);
  }
  return swept;
}
