/**
 * A step's private scratch space at the site: the opened inputs (bind-mounted read-only at
 * /run/parley/input) and the node socket's directory. Removed when the step ends, whatever
 * happened, because the inputs are plaintext.
 *
 * Directories and small inputs are made with synchronous calls (issue 17): each takes
 * microseconds in the page cache, while the asynchronous ones wait in libuv's thread pool (four
 * threads) behind every fsync of the process — at 10 sites sharing one process, a sum step's nine
 * input writes took ~40 ms each, against ~1 ms now. Large inputs (blobs) still stream
 * asynchronously, and so does the workspace's removal.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { OrgId } from '../common/ids.ts';

/**
 * An opened input: its body, or (a large one, which travels as a blob) what writes its body to a
 * file, checked, and removes the file when a check fails.
 */
export type OpenedInput = { from: OrgId; step: string; seq: number } & ({ body: Uint8Array; write?: never } | { write(file: string): Promise<void>; body?: never });

export interface StepWorkspace {
  inputDir: string;
  socketPath: string;
  /** Where the node socket spills what the algorithm sends (private to the worker, not mounted). */
  outboxDir: string;
  dispose(): Promise<void>;
}

/**
 * Creates the workspace under `root` (mode 0700) and writes the inputs and their index, one input
 * at a time as `inputs` yields them: a step's inputs are never all in memory at once.
 */
export async function createStepWorkspace(root: string, inputs: Iterable<OpenedInput> | AsyncIterable<OpenedInput>): Promise<StepWorkspace> {
  const workspace = await makeStepWorkspace(root);
  try {
    await writeStepInputs(workspace, inputs);
    return workspace;
  } catch (err) {
    await workspace.dispose();
    throw err;
  }
}

/**
 * Creates an empty workspace under `root` (mode 0700): its input directory, socket directory and
 * outbox, for a step prepared before its inputs exist (writeStepInputs fills it later).
 */
export async function makeStepWorkspace(root: string): Promise<StepWorkspace> {
  mkdirSync(root, { recursive: true, mode: 0o700 });
  const dir = mkdtempSync(join(root, 'step-'));
  chmodSync(dir, 0o700);
  try {
    const inputDir = join(dir, 'input');
    // The container's non-root user must read these; the 0700 parent keeps other host users out.
    mkdirSync(inputDir, { mode: 0o755 });
    chmodSync(inputDir, 0o755);
    const socketDir = join(dir, 'socket');
    mkdirSync(socketDir, { mode: 0o700 });
    return {
      inputDir,
      socketPath: join(socketDir, 'node.sock'),
      outboxDir: join(dir, 'outbox'),
      // Asynchronous: removing a workspace is a score of unlinks, which under a busy disk's
      // journal block for milliseconds each, and it is off the step's path (after its timings).
      dispose: () => rm(dir, { recursive: true, force: true }),
    };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

/** Where a site's step workspaces live: `steps/` in its state directory. */
export function stepWorkspaceRoot(stateDir: string): string {
  return join(stateDir, 'steps');
}

/**
 * Removes every step workspace under the site's state directory: at the worker's start-up, any
 * there is a SIGKILLed worker's (one worker per state directory), whose step is retried in a
 * workspace of its own. Returns how many were removed.
 */
export async function removeStrandedWorkspaces(stateDir: string): Promise<number> {
  const root = stepWorkspaceRoot(stateDir);
  const stranded = (await readdir(root).catch(() => [] as string[])).filter((name) => name.startsWith('step-'));
  await Promise.all(stranded.map((name) => rm(join(root, name), { recursive: true, force: true })));
  return stranded.length;
}

/** Writes `inputs` into the workspace's input directory one at a time, then their index. */
export async function writeStepInputs(workspace: StepWorkspace, inputs: Iterable<OpenedInput> | AsyncIterable<OpenedInput>): Promise<void> {
  const index: Array<{ file: string; from: OrgId; step: string; seq: number }> = [];
  for await (const input of inputs) {
    const entry = { file: `${input.from}-${input.seq}.json`, from: input.from, step: input.step, seq: input.seq };
    const file = join(workspace.inputDir, entry.file);
    if (input.body !== undefined) {
      writeFileSync(file, input.body, { mode: 0o644 });
    } else {
      // Under a name no container looks for until the body has streamed in and passed its checks.
      const partial = join(workspace.inputDir, `.${entry.file}.part`);
      await input.write(partial);
      await rename(partial, file);
    }
    index.push(entry);
  }
  writeFileSync(join(workspace.inputDir, 'index.json'), JSON.stringify(index), { mode: 0o644 });
}
