/**
 * A real Temporal worker on `parley.coordinator` running stand-in workflows (./stub-*.ts), for the
 * runs suites: the API starts real workflows, and the suite decides how they end.
 */
import { fileURLToPath } from 'node:url';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { COORDINATOR_TASK_QUEUE } from '../../common/workflow-names.ts';
import type { Harness } from './harness.ts';

/** A running stub coordinator; `stop()` shuts it down and closes its connection. */
export interface StubCoordinator {
  stop(): Promise<void>;
}

/**
 * Starts a worker of the workflows in `workflowsFile` (a file of this folder) on the harness's
 * Temporal namespace, with `activities` if the stand-ins call any.
 */
export async function startStubCoordinator(h: Harness, workflowsFile: string, activities?: Record<string, (...args: never[]) => unknown>): Promise<StubCoordinator> {
  try {
    Runtime.install({ logger: new DefaultLogger('ERROR'), telemetryOptions: { logging: { filter: { core: 'ERROR', other: 'ERROR' } } } });
  } catch {
    // already installed in this process
  }
  const connection = await NativeConnection.connect({ address: h.temporal.address });
  const worker = await Worker.create({
    connection, namespace: h.temporal.namespace, taskQueue: COORDINATOR_TASK_QUEUE,
    workflowsPath: fileURLToPath(new URL(workflowsFile, import.meta.url)),
    ...(activities ? { activities } : {}),
  });
  const running = worker.run();
  return {
    async stop() {
      worker.shutdown();
      await running;
      await connection.close();
    },
  };
}
