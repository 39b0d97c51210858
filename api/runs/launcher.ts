/**
 * How the API starts and follows runs: a small interface, and its implementation over a
 * @temporalio/client Client. The central process builds the Client (it owns the connection);
 * the API only calls these methods.
 */
import { setMaxListeners } from 'node:events';
import type { Client } from '@temporalio/client';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import type { ChainRunInput } from '../../common/chain.ts';
import { ErrorCode } from '../../common/errors.ts';
import type { RunManifest } from '../../common/run-manifest.ts';
import { RunStatus } from '../../common/run-status.ts';
import { readRunManifest } from '../../crypto/index.ts';
import { COORDINATOR_TASK_QUEUE, WorkflowName } from '../../common/workflow-names.ts';
import { ApiError } from '../errors.ts';
import { readActivityProgress } from './activity-progress.ts';
import type { ActivityProgress } from './activity-progress.ts';

/** The workflow's argument: ids, public parameters and the image — never data or keys. */
export interface RingRunInput {
  /** Also the workflow id. */
  runId: string;
  /** Ring order; the first initiates. */
  participants: string[];
  /** The organisation the total is sealed for. */
  requester: string;
  /** Public modulus, decimal. */
  modulus: string;
  dataset: string;
  image: { name: string; digest: string };
  /** The requester's signed manifest, which every site checks. */
  manifest: string;
  /** How long a step may wait for its site's worker (workflows/site-activity-stubs.ts); 15 min when absent. */
  siteDownToleranceMs?: number;
}

/** Who a run is for, from its manifest. */
export interface RunMembers {
  collaboration: string;
  participants: string[];
}

/** Starts run workflows and reports on them. */
export interface RunLauncher {
  /**
   * Starts the workflow with id `input.runId`.
   * @throws ApiError Conflict when that id is already taken; Unavailable when Temporal is unreachable.
   */
  startRing(input: RingRunInput): Promise<void>;
  /** Starts the chain workflow with id `input.runId`. @throws as startRing. */
  startChain(input: ChainRunInput & { runId: string }): Promise<void>;
  /**
   * Asks Temporal to cancel the run's workflow (it then cleans up at every site and ends as
   * cancelled). @throws ApiError NotFound / Unavailable.
   */
  cancel(runId: string): Promise<void>;
  /**
   * How the run's site activities stand, from its history. With `afterEventId` and `waitMs`, holds
   * the answer until something happens after that event. @throws ApiError NotFound / Unavailable.
   */
  progress(runId: string, options?: { afterEventId?: number; waitMs?: number; signal?: AbortSignal }): Promise<ActivityProgress>;
  /** The run's status as Temporal sees it. @throws ApiError NotFound / Unavailable. */
  status(runId: string): Promise<RunStatus>;
  /**
   * Who takes part in the run and in which collaboration, as the signed manifest in its
   * workflow's input says (read, not verified: the sites verify it at every step).
   * @throws ApiError NotFound (no such workflow, or one without a manifest) / Unavailable.
   */
  members(runId: string): Promise<RunMembers>;
  /**
   * Every blob digest the run's history refers to (any payload's `"digest":"…"`, so what looks
   * like a reference counts as one). @throws ApiError NotFound / Unavailable.
   */
  blobReferences(runId: string): Promise<Set<string>>;
  /** What a completed workflow returned. @throws ApiError Unavailable. */
  result(runId: string): Promise<unknown>;
  /**
   * Resolves once the run's workflow has closed, however it ended, or after `timeoutMs`, or when
   * `signal` aborts — whichever comes first. Never throws: the caller reads the status next.
   */
  waitForClose(runId: string, timeoutMs: number, signal?: AbortSignal): Promise<void>;
}

const STATUS_BY_TEMPORAL: Record<string, RunStatus> = {
  RUNNING: RunStatus.Running,
  // A continued-as-new run is still running under the same workflow id.
  CONTINUED_AS_NEW: RunStatus.Running,
  COMPLETED: RunStatus.Completed,
  FAILED: RunStatus.Failed,
  CANCELLED: RunStatus.Cancelled,
  TERMINATED: RunStatus.Terminated,
  TIMED_OUT: RunStatus.TimedOut,
};

function unavailable(err: unknown): ApiError {
  return new ApiError(ErrorCode.Unavailable, 'Temporal, which runs the workflows, did not answer. Try again shortly; if it persists, ask the server admin to check the Temporal service.', { cause: err });
}

function isNotFound(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { name?: unknown }).name === 'WorkflowNotFoundError';
}

/** A blob's digest as a reference names it in a payload (common/envelope.ts EnvelopeRef). */
const BLOB_REFERENCE = /"digest":"([A-Za-z0-9_-]{43})"/g;

/** Options of the Temporal launcher. */
export interface TemporalRunLauncherOptions {
  /**
   * Deadline of each call to Temporal. Without one, the client keeps retrying an unreachable
   * server for about 20 s while the HTTP request waits. Default 10 s.
   */
  callTimeoutMs?: number;
}

/** A RunLauncher over a Temporal client: task queue `parley.coordinator`, workflow id = run id. */
export function createTemporalRunLauncher(client: Client, options: TemporalRunLauncherOptions = {}): RunLauncher {
  const timeout = options.callTimeoutMs ?? 10_000;
  const bounded = <T>(fn: () => Promise<T>) => client.withDeadline(Date.now() + timeout, fn);
  // No execution timeout (common/workflow-names.ts says why).
  const start = async (workflowType: WorkflowName, runId: string, arg: unknown) => {
    try {
      await bounded(() => client.workflow.start(workflowType, {
        taskQueue: COORDINATOR_TASK_QUEUE,
        workflowId: runId,
        args: [arg],
      }));
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) {
        throw new ApiError(ErrorCode.Conflict, `A workflow with id ${runId} already exists. Start the run again; it gets a new id.`, { cause: err });
      }
      throw unavailable(err);
    }
  };
  const notFoundOr = (runId: string) => (err: unknown): never => {
    if (isNotFound(err) || (err as { code?: unknown })?.code === 5) {
      throw new ApiError(ErrorCode.NotFound, `Temporal has no workflow for run ${runId}; it may have been removed by retention.`, { cause: err });
    }
    throw unavailable(err);
  };
  return {
    startRing: (input) => start(WorkflowName.SecureSumRing, input.runId, input),
    // The workflow's argument is the ChainRunInput alone: its workflow id already is the run id.
    startChain: ({ runId, ...input }) => start(WorkflowName.Chain, runId, input),
    async cancel(runId) {
      await bounded(() => client.workflow.getHandle(runId).cancel()).catch(notFoundOr(runId));
    },
    async progress(runId, options = {}) {
      return readActivityProgress(client, runId, { ...options, callTimeoutMs: timeout }).catch(notFoundOr(runId));
    },
    async status(runId) {
      try {
        const description = await bounded(() => client.workflow.getHandle(runId).describe());
        return STATUS_BY_TEMPORAL[description.status.name] ?? RunStatus.Running;
      } catch (err) {
        if (isNotFound(err)) throw new ApiError(ErrorCode.NotFound, `Temporal has no workflow for run ${runId}; it may have been removed by retention.`, { cause: err });
        throw unavailable(err);
      }
    },
    async members(runId) {
      // The first event alone: the start event carries the input, whatever the history's length.
      const response = await bounded(() => client.workflowService.getWorkflowExecutionHistory({
        namespace: client.options.namespace, execution: { workflowId: runId }, maximumPageSize: 1,
      })).catch(notFoundOr(runId));
      const payload = response.history?.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
      const input = payload ? defaultPayloadConverter.fromPayload<{ manifest?: unknown }>(payload) : undefined;
      let claims: RunManifest;
      try {
        claims = readRunManifest(input?.manifest);
      } catch (err) {
        throw new ApiError(ErrorCode.NotFound, `Run ${runId} is not a Parley run: its workflow carries no signed manifest.`, { cause: err });
      }
      return { collaboration: claims.collaboration, participants: claims.participants };
    },
    async blobReferences(runId) {
      const history = await bounded(() => client.workflow.getHandle(runId).fetchHistory()).catch(notFoundOr(runId));
      const found = new Set<string>();
      const walk = (node: unknown): void => {
        if (node instanceof Uint8Array) {
          for (const m of Buffer.from(node.buffer, node.byteOffset, node.byteLength).toString('utf8').matchAll(BLOB_REFERENCE)) found.add(m[1]!);
        } else if (Array.isArray(node)) {
          node.forEach(walk);
        } else if (node !== null && typeof node === 'object') {
          Object.values(node).forEach(walk);
        }
      };
      walk(history.events);
      return found;
    },
    async result(runId) {
      try {
        return await bounded(() => client.workflow.getHandle(runId).result());
      } catch (err) {
        throw unavailable(err);
      }
    },
    async waitForClose(runId, timeoutMs, signal) {
      // result() is Temporal's long poll for the close event: the server answers the moment the
      // workflow ends, so no polling loop here. It stops at the timeout, or when the HTTP client
      // goes away. A controller of its own: the SDK adds an abort listener per RPC and never
      // removes it, which must not pile up on the request's signal.
      if (signal?.aborted) return;
      const controller = new AbortController();
      setMaxListeners(0, controller.signal);
      const stop = () => controller.abort();
      const timer = setTimeout(stop, timeoutMs);
      signal?.addEventListener('abort', stop, { once: true });
      try {
        await client.withAbortSignal(controller.signal, () => client.workflow.getHandle(runId).result());
      } catch {
        // Timed out, aborted, failed or unreachable: the status read that follows tells which.
      } finally {
        clearTimeout(timer);
        signal?.removeEventListener('abort', stop);
      }
    },
  };
}

/**
 * A RunLauncher over a Temporal client still being made (its server still starting): each call
 * waits for it, so the API can serve everything else — sign-ins, registrations — meanwhile.
 * A client that never comes fails each call as the client's error.
 */
export function deferredRunLauncher(client: Promise<Client>): RunLauncher {
  const launcher = client.then((c) => createTemporalRunLauncher(c));
  // Awaited by each call; a failure before any call is not an unhandled rejection.
  launcher.catch(() => undefined);
  return {
    startRing: async (input) => (await launcher).startRing(input),
    startChain: async (input) => (await launcher).startChain(input),
    cancel: async (runId) => (await launcher).cancel(runId),
    progress: async (runId, options) => (await launcher).progress(runId, options),
    status: async (runId) => (await launcher).status(runId),
    result: async (runId) => (await launcher).result(runId),
    waitForClose: async (runId, timeoutMs, signal) => (await launcher).waitForClose(runId, timeoutMs, signal),
    members: async (runId) => (await launcher).members(runId),
    blobReferences: async (runId) => (await launcher).blobReferences(runId),
  };
}
