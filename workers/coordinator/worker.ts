/**
 * The coordinator: workflow tasks only, on `parley.coordinator`. It holds no key and touches no
 * data; it decides which site runs what, and moves envelopes between them.
 */
import { Worker, type NativeConnection } from '@temporalio/worker';
import { COORDINATOR_TASK_QUEUE } from '../../common/workflow-names.ts';
import { workflowBundle } from './workflow-bundle.ts';

export interface CoordinatorOptions {
  connection: NativeConnection;
  namespace?: string;
}

/** Creates the coordinator worker; call `run()` on it and `shutdown()` to stop. */
export async function createCoordinatorWorker(options: CoordinatorOptions): Promise<Worker> {
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace ?? 'default',
    taskQueue: COORDINATOR_TASK_QUEUE,
    workflowBundle: await workflowBundle(),
  });
}
