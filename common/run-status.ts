/**
 * A run's status as last seen on its workflow: kept by the database, answered by the API, read by
 * the CLI. Every status but `running` is final.
 */
export const RunStatus = {
  Running: 'running',
  Completed: 'completed',
  Failed: 'failed',
  Cancelled: 'cancelled',
  Terminated: 'terminated',
  TimedOut: 'timed_out',
} as const;
export type RunStatus = (typeof RunStatus)[keyof typeof RunStatus];

/** Every status. */
export const RUN_STATUSES: readonly RunStatus[] = Object.values(RunStatus);
