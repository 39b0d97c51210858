/**
 * The central parts a test runs in its own process, around sites it starts itself: the API
 * (startCentralServer over in-memory PGlite, with its admin logged in) and the coordinator
 * (workflows on `parley.coordinator`), both on the test run's Temporal server.
 */
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { createApiClient, type ApiClient } from '../../activities/api-client.ts';
import { ADMIN_USERNAME, startCentralServer, type CentralServer } from '../../api/central-server.ts';
import { installQuietRuntime } from '../../demo/local-cluster.ts';
import { createCoordinatorWorker } from '../../workers/coordinator/worker.ts';

// Far below the production cost: a test logs in a handful of users, each in milliseconds.
const TEST_PASSWORD_COST = { log2N: 10, r: 8, p: 1 };

export interface TestApi {
  server: CentralServer;
  /** The API as its admin. */
  admin: ApiClient;
}

/**
 * Starts the API with its database in memory (files under `root`/server, its blobs under
 * `root`/server/blobs) and logs its admin in.
 */
export async function startTestApi(options: { root: string; temporal: Client; adminPassword: string; blobRetentionMs?: number; blobSweepIntervalMs?: number }): Promise<TestApi> {
  const server = await startCentralServer({
    stateDir: join(options.root, 'server'), inMemory: true, temporal: options.temporal,
    adminPassword: options.adminPassword, quiet: true, passwordCost: TEST_PASSWORD_COST,
    ...(options.blobRetentionMs !== undefined ? { blobRetentionMs: options.blobRetentionMs } : {}),
    ...(options.blobSweepIntervalMs !== undefined ? { blobSweepIntervalMs: options.blobSweepIntervalMs } : {}),
  });
  const anonymous = createApiClient(server.url);
  return { server, admin: createApiClient(server.url, (await anonymous.login(ADMIN_USERNAME, options.adminPassword)).accessToken) };
}

export interface TestCoordinator {
  /** Shuts the worker down, waits for it, and closes its connection. */
  stop(): Promise<void>;
}

/**
 * Runs the coordinator's workflows at `temporalAddress`, in `namespace` (the test file's own:
 * test-namespace.ts; default `default`), on a quiet Temporal runtime if none yet.
 */
export async function startTestCoordinator(temporalAddress: string, namespace?: string): Promise<TestCoordinator> {
  installQuietRuntime();
  const connection = await NativeConnection.connect({ address: temporalAddress });
  const worker = await createCoordinatorWorker({ connection, ...(namespace !== undefined ? { namespace } : {}) });
  const running = worker.run();
  return {
    async stop() {
      worker.shutdown();
      await running;
      await connection.close();
    },
  };
}
