/**
 * The workflows the coordinator runs, as whoever starts them names them: their types, the task
 * queue they run on, and how long a run may take. Declared once for researcher/, api/runs/, the
 * demo, the benchmarks and the tests; workflows/index.ts exports a function of each name
 * (workers/coordinator/workflow-names.test.ts checks it). Pure data: no Temporal import.
 */

/** Each workflow's type: the name of its function in workflows/index.ts. */
export const WorkflowName = {
  /** workflows/secure-sum-ring.ts */
  SecureSumRing: 'secureSumRingWorkflow',
  /** workflows/secure-sum-additive.ts */
  SecureSumAdditive: 'secureSumAdditiveWorkflow',
  /** workflows/chain.ts */
  Chain: 'chainWorkflow',
} as const;
export type WorkflowName = (typeof WorkflowName)[keyof typeof WorkflowName];

/** The coordinator's task queue: workflow tasks only (site activities go to `site.<org>`). */
export const COORDINATOR_TASK_QUEUE = 'parley.coordinator';

/**
 * How long a run started straight on Temporal (researcher/runs.ts: the demo, the tests, the
 * benchmarks) may take: a run is one attempt, so a stuck one ends as timed out instead of
 * holding its sites' volumes forever. The API's runs (api/runs/launcher.ts) set none: a
 * researcher cancels them, and the API records however they ended.
 */
export const RUN_EXECUTION_TIMEOUT = '1 hour';
