/**
 * One site's worker: activities only, on `site.<org>`. It holds the organisation's private keys
 * and runs allowed images next to its data.
 */
import type { Client } from '@temporalio/client';
import { Worker, type NativeConnection } from '@temporalio/worker';
import { siteTaskQueue } from '../../common/ids.ts';
import { createSiteActivities, type SiteDeps } from '../../activities/site-activities.ts';
import { sweepOrphans } from '../../activities/sandbox/run-volume.ts';
import { parleyDataConverter } from '../../activities/failure-codec.ts';

export interface SiteWorkerOptions {
  connection: NativeConnection;
  /** Used at start-up to tell a live run's volume from an orphan of a crash. */
  client: Client;
  namespace?: string;
  deps: SiteDeps;
  /** Steps this site runs at once; two cores run two containers well. */
  maxConcurrentSteps?: number;
}

/** Sweeps this site's orphans from an earlier crash, then creates its worker. */
export async function createSiteWorker(options: SiteWorkerOptions): Promise<Worker> {
  const { deps, client } = options;
  await sweepOrphans(deps.docker, deps.org, async (runId: string) => {
    try {
      const description = await client.workflow.getHandle(runId).describe();
      return description.status.name === 'RUNNING';
    } catch {
      return false;
    }
  });
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace ?? 'default',
    taskQueue: siteTaskQueue(deps.org),
    activities: createSiteActivities(deps),
    maxConcurrentActivityTaskExecutions: options.maxConcurrentSteps ?? 2,
    // A failing step's message quotes the algorithm's log: sealed for this site before it reaches the history.
    dataConverter: parleyDataConverter({ sealFor: { org: deps.org, receiveJwk: deps.keys.receive.publicJwk } }),
  });
}
