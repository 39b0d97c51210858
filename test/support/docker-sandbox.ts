/**
 * Runs one step the way a site worker does, minus the envelopes: a private workspace with the
 * step's (already opened) inputs, a node socket, the run volume, and the sandboxed container.
 * Tests feed one step's messages to the next themselves.
 */
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import type { OrgId } from '../../common/ids.ts';
import { startNodeSocket, type CohortReport, type RequestedMessage } from '../../activities/sandbox/node-socket.ts';
import { runSandboxed, type RunSandboxedOptions, type SandboxResult, type SandboxSpec } from '../../activities/sandbox/run-container.ts';
import { ensureRunVolume } from '../../activities/sandbox/run-volume.ts';
import { createStepWorkspace } from '../../activities/step-workspace.ts';

export interface TestStep {
  image: string;
  runId: string;
  org: OrgId;
  step: string;
  participants: OrgId[];
  args: unknown;
  datasets?: Record<string, string>;
  /** Opened inputs: what earlier steps sent this one. */
  inputs?: Array<{ from: OrgId; step: string; seq: number; content: unknown }>;
  /** Defaults to the other participants. */
  allowedRecipients?: OrgId[];
  timeoutMs?: number;
  /** The largest message the step may send (default 64 KiB, the socket's body limit; a linkage's lists are megabytes). */
  maxMessageBytes?: number;
  limits?: SandboxSpec['limits'];
  /** The site's disclosure threshold, passed as PARLEY_MIN_ROWS (the sandbox's default of 10 when absent). */
  minRows?: number;
}

export interface TestStepResult extends SandboxResult {
  messages: RequestedMessage[];
  output: unknown;
  /** The cohorts the step reported for the site's release ledger. */
  cohorts: CohortReport[];
  violations: string[];
}

/** A private scratch directory (0700) for a test file; `dispose` removes it. */
export async function scratchDir(): Promise<{ dir: string; dispose: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'parley-sandbox-test-'));
  await chmod(dir, 0o700);
  return { dir, dispose: () => rm(dir, { recursive: true, force: true }) };
}

/**
 * Creates a dataset directory holding one `count` file with `text`, readable by the sandbox user
 * (0755/0644) as a site's datasets are. Returns its path.
 */
export async function countDataset(root: string, name: string, text: string): Promise<string> {
  const dir = join(root, name);
  await mkdir(dir, { recursive: true });
  await chmod(dir, 0o755);
  await writeFile(join(dir, 'count'), text, { mode: 0o644 });
  return dir;
}

/** Runs one step in a real sandboxed container and returns what it exited with and sent. */
export async function runTestStep(docker: Docker, root: string, step: TestStep, options: RunSandboxedOptions = {}): Promise<TestStepResult> {
  const inputs = (step.inputs ?? []).map((i) => ({ from: i.from, step: i.step, seq: i.seq, body: Buffer.from(JSON.stringify(i.content)) }));
  const workspace = await createStepWorkspace(join(root, step.org), inputs);
  const socket = await startNodeSocket({
    socketPath: workspace.socketPath,
    allowedRecipients: step.allowedRecipients ?? step.participants.filter((p) => p !== step.org),
    maxBodyBytes: 64 * 1024,
    ...(step.maxMessageBytes !== undefined ? { maxMessageBytes: step.maxMessageBytes, maxTotalBytes: 4 * step.maxMessageBytes } : {}),
    datasets: Object.keys(step.datasets ?? {}),
  });
  try {
    const volumeName = await ensureRunVolume(docker, step.runId, step.org);
    const result = await runSandboxed(
      docker,
      {
        image: step.image,
        runId: step.runId,
        step: step.step,
        org: step.org,
        participants: step.participants,
        args: step.args,
        ...(step.datasets ? { datasets: step.datasets } : {}),
        volumeName,
        inputDir: workspace.inputDir,
        socketPath: workspace.socketPath,
        timeoutMs: step.timeoutMs ?? 60_000,
        ...(step.limits ? { limits: step.limits } : {}),
        ...(step.minRows !== undefined ? { minRows: step.minRows } : {}),
      },
      options,
    );
    return { ...result, messages: socket.messages(), output: socket.output(), cohorts: socket.cohorts(), violations: socket.violations() };
  } finally {
    await socket.close();
    await workspace.dispose();
  }
}
