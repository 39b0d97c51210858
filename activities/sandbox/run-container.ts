/**
 * Runs one step's algorithm image in the sandbox the container contract (DESIGN.md) promises:
 * no network, read-only root, no capabilities, no privilege gain, a non-root user, memory/CPU/pids
 * limits, a wall-clock timeout, a small tmpfs /tmp, and only the mounts the step is owed.
 *
 * It waits on the engine's wait endpoint (one long request, no polling), reads the log tail, and
 * always removes the container itself (no AutoRemove: the logs are read first).
 */
import { isAbsolute } from 'node:path';
import type Docker from 'dockerode';
import { ErrorCode, ParleyError } from '../../common/errors.ts';
import { isOrgId, isRunId, isStepId, type OrgId } from '../../common/ids.ts';
import { readLogTail } from './container-logs.ts';
import { DATASET_NAME } from '../../common/ids.ts';
import { ContainerPath, Label, SANDBOX_USER } from './contract.ts';
import { processOwner } from './owner.ts';

/** Resource limits for one step's container. */
export interface ContainerLimits {
  /** Memory, bytes; swap is not added on top. */
  memoryBytes: number;
  /** CPUs, fractional allowed. */
  cpus: number;
  /** Processes and threads. */
  pids: number;
}

/** Limits suited to the example algorithms: 512 MiB, 1 CPU, 128 pids. */
export const DEFAULT_LIMITS: Readonly<ContainerLimits> = { memoryBytes: 512 * 1024 * 1024, cpus: 1, pids: 128 };
/** The wall-clock timeout when a spec gives none. */
export const DEFAULT_TIMEOUT_MS = 10 * 60_000;
/** The disclosure threshold when a spec gives none: as a site configuration's default. */
export const DEFAULT_MIN_ROWS = 10;

/** What a step runs and what it is given. Host paths are absolute. */
export interface SandboxSpec {
  /** The allow-listed image, preferably by id (`sha256:…`) so what runs is what was allowed. */
  image: string;
  /** The image's name for people (messages, logs); defaults to `image`. */
  imageName?: string;
  runId: string;
  step: string;
  org: OrgId;
  participants: OrgId[];
  /** The step's arguments, passed as JSON in PARLEY_ARGS. */
  args: unknown;
  /** Dataset name → host path, mounted read-only at /data/<name>. */
  datasets?: Record<string, string>;
  /** The run volume's name (ensureRunVolume). */
  volumeName: string;
  /** Host directory holding the step's opened inputs. */
  inputDir: string;
  /** Host path of this step's node socket (startNodeSocket). */
  socketPath: string;
  /** Wall-clock time from start to exit, ms (default 10 minutes). */
  timeoutMs?: number;
  limits?: Partial<ContainerLimits>;
  /**
   * The site's disclosure threshold (default 10), passed as PARLEY_MIN_ROWS: an algorithm must not
   * release an aggregate resting on fewer rows. The site decides it, never the step's arguments.
   */
  minRows?: number;
}

export interface RunSandboxedOptions {
  /** Aborting kills and removes the container, then rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Called every `heartbeatMs` while the container runs (e.g. Temporal's heartbeat). */
  onHeartbeat?: () => void;
  heartbeatMs?: number;
  /** Called once the container has started, with its id (for logs, status, tests). */
  onStart?: (containerId: string) => void;
  /**
   * Read the log tail after a clean exit too (default: only after a failure or a timeout, when a
   * person will read it). `parley algorithm test` shows an author their algorithm's log either way.
   */
  logsOnSuccess?: boolean;
  /**
   * The step's container, already created from this spec (createSandbox) while the step before
   * it ran: only its start is left to do. It is removed like one created here.
   */
  created?: Docker.Container;
  /**
   * Takes over waiting for the container's removal, which then runs while the caller goes on
   * (seals, returns) instead of before: the caller must await it before removing the run volume.
   */
  deferRemoval?: (removal: Promise<void>) => void;
}

/**
 * How a sandboxed run ended. A non-zero exit code is the caller's to turn into StepFailed, or
 * into StepOutOfMemory when `oomKilled` says the kernel killed it at its memory limit.
 */
export interface SandboxResult {
  exitCode: number;
  /**
   * The engine's State.OOMKilled: the kernel killed a process of the container for going past
   * `memoryBytes`. Read only for a non-zero exit (a killed helper process the algorithm survived
   * is no failure of the step); false otherwise.
   */
  oomKilled: boolean;
  /** The memory limit the container ran under, bytes (the spec's, or the default). */
  memoryBytes: number;
  /** The last lines of stdout and stderr together, in the order the engine logged them. */
  logTail: string[];
  /** Wall-clock time of the whole call: create (unless `created`), start, run, logs, remove (unless deferred). */
  durationMs: number;
  containerId: string;
}

const LOG_TAIL_LINES = 20;

function check(spec: SandboxSpec): void {
  if (!isRunId(spec.runId)) throw new TypeError(`"${spec.runId}" is not a run id.`);
  if (!isStepId(spec.step)) throw new TypeError(`"${spec.step}" is not a step id.`);
  if (!isOrgId(spec.org)) throw new TypeError(`"${spec.org}" is not an organisation id.`);
  for (const p of spec.participants) if (!isOrgId(p)) throw new TypeError(`Participant "${p}" is not an organisation id.`);
  for (const [what, path] of [['inputDir', spec.inputDir], ['socketPath', spec.socketPath], ...Object.entries(spec.datasets ?? {})]) {
    if (!isAbsolute(path ?? '')) throw new TypeError(`${what}: host path "${path}" must be absolute.`);
  }
  if (spec.minRows !== undefined && (!Number.isInteger(spec.minRows) || spec.minRows < 1)) {
    throw new TypeError(`minRows must be a whole number of at least 1 (the site's disclosure threshold), not ${spec.minRows}.`);
  }
  for (const name of Object.keys(spec.datasets ?? {})) {
    // The name becomes a path under /data: one plain segment, so a step cannot mount over /data's neighbours.
    if (!DATASET_NAME.test(name)) {
      throw new ParleyError(ErrorCode.InvalidInput, `Dataset name "${name}" is not one path segment of letters, digits, ".", "_" or "-".`, {
        runId: spec.runId,
        step: spec.step,
        org: spec.org,
      });
    }
  }
}

/** The memory limit `spec`'s container runs under: a limit given as undefined means the default, not "unlimited". */
function memoryLimitOf(spec: SandboxSpec): number {
  return spec.limits?.memoryBytes ?? DEFAULT_LIMITS.memoryBytes;
}

/** The engine's create request for `spec`: the container contract, field by field. */
export function containerConfig(spec: SandboxSpec): Docker.ContainerCreateOptions {
  // Field by field: a limit given as undefined means "the default", not "unlimited".
  const memoryBytes = memoryLimitOf(spec);
  const cpus = spec.limits?.cpus ?? DEFAULT_LIMITS.cpus;
  const pids = spec.limits?.pids ?? DEFAULT_LIMITS.pids;
  const mounts: Docker.MountSettings[] = [
    ...Object.entries(spec.datasets ?? {}).map(([name, source]) => ({ Type: 'bind' as const, Source: source, Target: `${ContainerPath.Data}/${name}`, ReadOnly: true })),
    { Type: 'volume', Source: spec.volumeName, Target: ContainerPath.Volume },
    { Type: 'bind', Source: spec.inputDir, Target: ContainerPath.Input, ReadOnly: true },
    // A single-file bind: the container reaches the socket without seeing (or needing access to)
    // the private host directory it lives in.
    { Type: 'bind', Source: spec.socketPath, Target: ContainerPath.Socket, ReadOnly: true },
  ];
  return {
    Image: spec.image,
    User: `${SANDBOX_USER.uid}:${SANDBOX_USER.gid}`,
    Env: [
      `PARLEY_RUN_ID=${spec.runId}`,
      `PARLEY_STEP=${spec.step}`,
      `PARLEY_ORG=${spec.org}`,
      `PARLEY_PARTICIPANTS=${spec.participants.join(',')}`,
      `PARLEY_ARGS=${JSON.stringify(spec.args ?? {})}`,
      `PARLEY_MIN_ROWS=${spec.minRows ?? DEFAULT_MIN_ROWS}`,
    ],
    Labels: { [Label.Run]: spec.runId, [Label.Site]: spec.org, [Label.Step]: spec.step, [Label.Owner]: processOwner() },
    // No network at all: with NetworkDisabled the engine sets up no network sandbox (only the
    // namespace's own loopback exists), which is both the contract and ~250 ms faster per start
    // than NetworkMode 'none' alone on this engine.
    NetworkDisabled: true,
    HostConfig: {
      NetworkMode: 'none',
      ReadonlyRootfs: true,
      CapDrop: ['ALL'],
      SecurityOpt: ['no-new-privileges'],
      Memory: memoryBytes,
      MemorySwap: memoryBytes,
      NanoCpus: Math.round(cpus * 1e9),
      PidsLimit: pids,
      Tmpfs: { '/tmp': 'rw,noexec,nosuid,size=64m,mode=1777' },
      Mounts: mounts,
      // json-file can always be read back (some drivers cannot), and the cap stops a chatty
      // algorithm from filling the site's disk; only the tail is ever read.
      LogConfig: { Type: 'json-file', Config: { 'max-size': '1m', 'max-file': '1' } },
    },
  };
}

function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error('The step was cancelled.');
}

/** Ignores "not found" and "not running": the container already is the way we want it. */
function ignoreGone(err: unknown): void {
  const status = (err as { statusCode?: number } | null)?.statusCode;
  if (status !== 404 && status !== 409) throw err;
}

/**
 * Creates the step's container from `spec` without starting it (runSandboxed's `created`).
 * Throws as runSandboxed does for a bad spec, and the engine's error when it refuses.
 */
export async function createSandbox(docker: Docker, spec: SandboxSpec): Promise<Docker.Container> {
  check(spec);
  return docker.createContainer(containerConfig(spec));
}

/**
 * Creates (unless given `created`), starts and waits for the step's container, then reads its log tail and removes it.
 * Resolves with the exit code (non-zero included) and whether the kernel killed it at its memory limit.
 *
 * Throws TypeError for malformed ids or relative paths; ParleyError InvalidInput for a bad
 * dataset name; ParleyError StepTimeout (naming step, image and timeout, with the log tail) when
 * the container outlives its timeout and is killed; the signal's reason when aborted; and the
 * engine's error when it refuses (e.g. a missing image or mount source).
 */
export async function runSandboxed(docker: Docker, spec: SandboxSpec, options: RunSandboxedOptions = {}): Promise<SandboxResult> {
  check(spec);
  const { signal, onHeartbeat, heartbeatMs = 10_000, onStart, logsOnSuccess = false, created, deferRemoval } = options;
  const timeoutMs = spec.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const imageName = spec.imageName ?? spec.image;
  const started = performance.now();
  if (signal?.aborted && !created) throw abortReason(signal);

  // Not passed the signal: a create aborted mid-flight could leave a container we never learn the id of.
  const container = created ?? (await docker.createContainer(containerConfig(spec)));
  let timedOut = false;
  let aborted = false;
  const timers: NodeJS.Timeout[] = [];
  const kill = (): void => void container.kill({ signal: 'SIGKILL' }).catch(ignoreGone);
  let outcome!: Omit<SandboxResult, 'durationMs'>;
  const onAbort = (): void => {
    aborted = true;
    kill();
  };
  try {
    if (signal?.aborted) throw abortReason(signal);
    signal?.addEventListener('abort', onAbort, { once: true });
    await container.start();
    // An abort that landed while the engine was starting it found nothing running to kill.
    if (aborted) kill();
    // The timer starts with the container: image pulls and creation are not the algorithm's time.
    timers.push(setTimeout(() => ((timedOut = true), kill()), timeoutMs));
    if (onHeartbeat) timers.push(setInterval(onHeartbeat, heartbeatMs));
    onStart?.(container.id);
    const { StatusCode } = (await container.wait()) as { StatusCode: number };
    timers.forEach(clearTimeout);
    if (aborted && signal) throw abortReason(signal);
    // The wait endpoint gives the exit code only; whether the kernel's OOM killer caused it is in
    // the container's state, which must be read before the container is removed below. A kill at
    // the timeout is the timeout's, whatever the memory did meanwhile.
    const oomKilled = StatusCode !== 0 && !timedOut && (await container.inspect()).State.OOMKilled === true;
    // Logs are read only when someone will read them: a failure or a timeout.
    const logTail = StatusCode !== 0 || timedOut || logsOnSuccess ? await readLogTail(container, LOG_TAIL_LINES) : [];
    if (timedOut) {
      throw new ParleyError(
        ErrorCode.StepTimeout,
        `Step "${spec.step}" of run ${spec.runId} at ${spec.org} ran past its ${timeoutMs} ms timeout and was killed (image ${imageName}). ` +
          'Raise the step\'s timeout if the work needs longer, or fix the algorithm if it hangs.',
        { runId: spec.runId, step: spec.step, org: spec.org, image: imageName, timeoutMs, logTail: logTail.join('\n') },
      );
    }
    outcome = { exitCode: StatusCode, oomKilled, memoryBytes: memoryLimitOf(spec), logTail, containerId: container.id };
  } finally {
    timers.forEach(clearTimeout);
    signal?.removeEventListener('abort', onAbort);
    const removal = container.remove({ force: true }).catch(ignoreGone);
    if (deferRemoval) deferRemoval(removal);
    else await removal;
  }
  return { ...outcome, durationMs: Math.round(performance.now() - started) };
}
