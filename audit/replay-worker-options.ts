/**
 * The options every audit replay worker runs with.
 *
 * A replay worker defaults to the SDK's debug mode: it runs the workflow code in this process's
 * main thread and installs V8 promise hooks there for good (@temporalio/worker
 * lib/workflow/vm-shared.js, `setPromiseHook`). On Node 24 WebCrypto's job promises carry an own
 * `constructor: undefined` (node:internal/crypto/util `jobPromise`), and the SDK's `settled` hook
 * reads `promise.constructor.constructor` — so every envelope sealed, opened or verified in the
 * same process after a replay (`parley audit verify` does both; so does a site that replays)
 * throws an uncaught TypeError. Off debug mode the replay runs in a worker thread of its own, as a
 * normal worker's workflows do, and its hooks live and end with that thread.
 */
import type { ReplayWorkerOptions, WorkflowBundle } from '@temporalio/worker';

export function replayWorkerOptions(workflowBundle: WorkflowBundle, replayName: string): ReplayWorkerOptions {
  // debugMode is left out of ReplayWorkerOptions' type, but Worker.constructReplayWorker spreads
  // the options over its own `debugMode: true`, so this is the SDK's own switch.
  return { workflowBundle, replayName, debugMode: false } as ReplayWorkerOptions;
}
