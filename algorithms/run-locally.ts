/**
 * Runs one algorithm image once, on this machine, exactly as a site worker runs a step — the same
 * sandbox (activities/sandbox/run-container.ts), the same node socket, the same run volume and
 * input layout — but with no Temporal, no keys and no envelopes: what the algorithm sends and
 * outputs is collected as it asked, for its author to read. `parley algorithm test` is its user.
 */
import { readFile } from 'node:fs/promises';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import type Docker from 'dockerode';
import { ErrorCode, ParleyError } from '../common/errors.ts';
import { isOrgId, type OrgId } from '../common/ids.ts';
import { startNodeSocket, type CohortReport, type RequestedMessage } from '../activities/sandbox/node-socket.ts';
import { runSandboxed, DEFAULT_MIN_ROWS } from '../activities/sandbox/run-container.ts';
import { ensureRunVolume, removeRunVolumes } from '../activities/sandbox/run-volume.ts';
import { createStepWorkspace } from '../activities/step-workspace.ts';
import { socketContractError, stepFailedError } from '../activities/step-failure.ts';
import { readRunVolume, type VolumeFile } from './read-run-volume.ts';

export interface LocalRunOptions {
  /** The image, by id or reference. */
  image: string;
  /** Dataset name → host file or directory, mounted read-only at /data/<name>. */
  datasets?: Record<string, string>;
  args?: unknown;
  /** Host JSON files given to the step as its opened inputs, in order. */
  inputFiles?: string[];
  /** The site the step runs "at" (default `local`). */
  org?: OrgId;
  /** The run's participants (default: `org` alone); the step may send to the others. */
  participants?: OrgId[];
  step?: string;
  /** The disclosure threshold passed as PARLEY_MIN_ROWS (default 10, as at a site). */
  minRows?: number;
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface LocalRunResult {
  exitCode: number;
  messages: RequestedMessage[];
  output: unknown;
  cohorts: CohortReport[];
  violations: string[];
  /** What it left in the run volume, for a later step at the same site. */
  volume: VolumeFile[];
  /** The container's last log lines (after success too). */
  logTail: string[];
  durationMs: number;
  /** The run id its container and volume carried (both removed). */
  runId: string;
  /** The failure a site would raise for this run (StepFailed or StepProtocol), if any. */
  failure?: ParleyError;
}

async function readInputFile(path: string, i: number): Promise<Buffer> {
  let body: Buffer;
  try {
    body = await readFile(path);
  } catch (err) {
    throw new ParleyError(ErrorCode.InvalidInput, `Cannot read input ${i + 1} (${path}): ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}. Check the path.`);
  }
  try {
    JSON.parse(body.toString('utf8'));
  } catch {
    throw new ParleyError(ErrorCode.InvalidInput, `Input ${i + 1} (${path}) is not JSON: a step's inputs are the JSON messages earlier steps sent it.`);
  }
  return body;
}

/**
 * Runs `options.image` once in the full sandbox and returns what it did. The run volume, the
 * workspace and the container are removed afterwards, whatever happened.
 *
 * Throws ParleyError InvalidInput for an unreadable or non-JSON input file, TypeError for bad
 * ids, ParleyError StepTimeout when it outlives its timeout, and the engine's error when it
 * refuses (a missing image or dataset path).
 */
export async function runAlgorithmLocally(docker: Docker, options: LocalRunOptions): Promise<LocalRunResult> {
  const org = options.org ?? 'local';
  const participants = options.participants ?? [org];
  for (const p of [org, ...participants]) if (!isOrgId(p)) throw new TypeError(`"${p}" is not an organisation id (lowercase letters, digits and "-").`);
  const step = options.step ?? 'test';
  const runId = `local-${Date.now()}-${randomBytes(4).toString('hex')}`;
  const datasets = Object.fromEntries(Object.entries(options.datasets ?? {}).map(([name, path]) => [name, resolve(path)]));
  const bodies = await Promise.all((options.inputFiles ?? []).map((f, i) => readInputFile(f, i)));
  const root = await mkdtemp(join(tmpdir(), 'parley-algorithm-test-'));
  const workspace = await createStepWorkspace(
    join(root, org),
    bodies.map((body, i) => ({ from: org, step: 'input', seq: i, body })),
  );
  const socket = await startNodeSocket({
    socketPath: workspace.socketPath,
    allowedRecipients: participants.filter((p) => p !== org),
    maxBodyBytes: 16 * 1024 * 1024,
    datasets: Object.keys(datasets),
  });
  try {
    const volumeName = await ensureRunVolume(docker, runId, org);
    const result = await runSandboxed(
      docker,
      {
        image: options.image,
        runId,
        step,
        org,
        participants,
        args: options.args ?? {},
        datasets,
        volumeName,
        inputDir: workspace.inputDir,
        socketPath: workspace.socketPath,
        ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
        minRows: options.minRows ?? DEFAULT_MIN_ROWS,
      },
      { logsOnSuccess: true, ...(options.signal ? { signal: options.signal } : {}) },
    );
    const volume = await readRunVolume(docker, options.image, volumeName);
    const where = { runId, step, org };
    const violations = socket.violations();
    // The same order a site decides in: an exit code first, then the socket's contract.
    const failure = result.exitCode !== 0 ? stepFailedError(where, result.exitCode, result.logTail) : violations.length > 0 ? socketContractError(where, violations) : undefined;
    return {
      exitCode: result.exitCode,
      messages: socket.messages(),
      output: socket.output(),
      cohorts: socket.cohorts(),
      violations,
      volume,
      logTail: result.logTail,
      durationMs: result.durationMs,
      runId,
      ...(failure ? { failure } : {}),
    };
  } finally {
    await socket.close();
    await workspace.dispose();
    await removeRunVolumes(docker, { runId, org }).catch(() => undefined);
    await rm(root, { recursive: true, force: true });
  }
}
