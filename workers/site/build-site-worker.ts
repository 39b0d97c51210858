/**
 * One site's worker: activities only, on `site.<org>`. It holds the organisation's private keys
 * and runs allowed images next to its data. Built here for `parley site start` (./process.ts)
 * and for the one-machine cluster (demo/local-cluster.ts) alike, so the tests and the demo run
 * the worker that operators run: the same start-up sweep, step-timeout cap and data converter.
 */
import type { Client } from '@temporalio/client';
import { Worker, type NativeConnection } from '@temporalio/worker';
import type Docker from 'dockerode';
import { parleyDataConverter } from '../../activities/failure-codec.ts';
import { Label } from '../../activities/sandbox/contract.ts';
import { sweepOrphans } from '../../activities/sandbox/run-volume.ts';
import { ownedByAnotherLiveProcess } from '../../activities/sandbox/owner.ts';
import { createSiteActivities, type SiteDeps } from '../../activities/site-activities.ts';
import { removeStrandedWorkspaces } from '../../activities/step-workspace.ts';
import type { SiteActivities } from '../../activities/types.ts';
import type { OrgId } from '../../common/ids.ts';
import { siteTaskQueue } from '../../common/ids.ts';
import type { SiteLog } from './log.ts';

/** Steps a site runs at once when its operator says nothing: two cores run two containers well. */
const DEFAULT_MAX_CONCURRENT_STEPS = 2;

/**
 * What a site worker is built from. `deps` is what its activities need (keys, datasets, allowed
 * images, …); the rest is how the worker runs. Each optional field has the one-machine default.
 */
export interface SiteWorkerSetup {
  connection: NativeConnection;
  /** Used at start-up to tell a live run's volume from an orphan of a crash. */
  client: Client;
  /** Default `default`. */
  namespace?: string;
  deps: SiteDeps;
  /** Steps this site runs at once (site.yaml `maxConcurrentSteps`). Default 2. */
  maxConcurrentSteps?: number;
  /** The site's own cap on a step's wall-clock timeout, whatever the run asks (site.yaml `limits.stepTimeoutSeconds`). Default: no cap. */
  stepTimeoutCapSeconds?: number;
  /**
   * On shutdown, how long running steps may go on before they are cancelled (site.yaml
   * `shutdownGraceSeconds`). Default: the SDK's.
   */
  shutdownGraceSeconds?: number;
  /** Where the start-up sweep is reported. Default: nowhere. */
  log?: SiteLog;
}

/**
 * Sweeps this site's leftovers from an earlier crash, then creates its worker; call `run()` on
 * it and `shutdown()` to stop.
 * @throws whatever Docker or Temporal throw when they cannot be reached.
 */
export async function buildSiteWorker(setup: SiteWorkerSetup): Promise<Worker> {
  const { deps, client } = setup;
  const namespace = setup.namespace ?? 'default';
  const swept = await sweepLeftovers(deps.docker, deps.org, client);
  // A SIGKILLed worker's step workspaces (its steps' opened inputs) go with its containers.
  const workspaces = await removeStrandedWorkspaces(deps.stateDir);
  setup.log?.('info', 'orphans swept', { org: deps.org, ...swept, workspaces });
  return Worker.create({
    connection: setup.connection,
    namespace,
    taskQueue: siteTaskQueue(deps.org),
    activities: capStepTimeout(createSiteActivities(deps), setup.stepTimeoutCapSeconds),
    maxConcurrentActivityTaskExecutions: setup.maxConcurrentSteps ?? DEFAULT_MAX_CONCURRENT_STEPS,
    ...(setup.shutdownGraceSeconds === undefined ? {} : {
      // Running steps may finish within the grace period; after it they are cancelled, which
      // kills and removes their containers (runSandboxed honours the cancellation signal).
      shutdownGraceTime: setup.shutdownGraceSeconds * 1000,
      // A last resort so a stuck engine call cannot keep the process up forever.
      shutdownForceTime: (setup.shutdownGraceSeconds + 60) * 1000,
    }),
    // A failing step's message quotes the algorithm's log: sealed for this site before it reaches the history.
    dataConverter: parleyDataConverter({ sealFor: { org: deps.org, receiveJwk: deps.keys.receive.publicJwk } }),
  });
}

/** Removes the volumes and containers a crashed worker of `org` left behind. */
async function sweepLeftovers(docker: Docker, org: OrgId, client: Client): Promise<{ runs: number; containers: number }> {
  // An orphan is a volume or container of a run Temporal no longer runs: a crash's leftovers.
  const swept = await sweepOrphans(docker, org, async (runId: string) => {
    try {
      return (await client.workflow.getHandle(runId).describe()).status.name === 'RUNNING';
    } catch {
      return false;
    }
  });
  // A step container still here at start-up has no worker watching it (one worker per site):
  // a SIGKILL left it running, even if its run is live. The run retries the step; the
  // container goes, and the live run's volume stays for that retry.
  // (Save those another live process of this organisation runs: a second demo's, say; owner.ts.)
  const stranded = (await docker.listContainers({ all: true, filters: { label: [`${Label.Site}=${org}`] } }))
    .filter((c) => !ownedByAnotherLiveProcess(c.Labels?.[Label.Owner]));
  await Promise.all(stranded.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
  return { runs: swept.length, containers: stranded.length };
}

/** Caps each step's wall-clock timeout at the site's own limit, whatever the run asked for. */
function capStepTimeout(activities: SiteActivities, capSeconds: number | undefined): SiteActivities {
  if (capSeconds === undefined) return activities;
  return { ...activities, runStep: (request) => activities.runStep({ ...request, timeoutMs: Math.min(request.timeoutMs, capSeconds * 1000) }) };
}
