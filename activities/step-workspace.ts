/**
 * A step's private scratch space at the site: the opened inputs (bind-mounted read-only at
 * /run/parley/input) and the node socket's directory. Removed when the step ends, whatever
 * happened, because the inputs are plaintext.
 */
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { OrgId } from '../common/ids.ts';

export interface OpenedInput {
  from: OrgId;
  step: string;
  seq: number;
  body: Uint8Array;
}

export interface StepWorkspace {
  inputDir: string;
  socketPath: string;
  dispose(): Promise<void>;
}

/** Creates the workspace under `root` (mode 0700) and writes the inputs and their index. */
export async function createStepWorkspace(root: string, inputs: OpenedInput[]): Promise<StepWorkspace> {
  await mkdir(root, { recursive: true, mode: 0o700 });
  const dir = await mkdtemp(join(root, 'step-'));
  await chmod(dir, 0o700);
  try {
    const inputDir = join(dir, 'input');
    // The container's non-root user must read these; the 0700 parent keeps other host users out.
    await mkdir(inputDir, { mode: 0o755 });
    await chmod(inputDir, 0o755);
    const index = inputs.map((input) => ({ file: `${input.from}-${input.seq}.json`, from: input.from, step: input.step, seq: input.seq }));
    await Promise.all(inputs.map((input, i) => writeFile(join(inputDir, index[i]!.file), input.body, { mode: 0o644 })));
    await writeFile(join(inputDir, 'index.json'), JSON.stringify(index), { mode: 0o644 });
    const socketDir = join(dir, 'socket');
    await mkdir(socketDir, { mode: 0o700 });
    return {
      inputDir,
      socketPath: join(socketDir, 'node.sock'),
      dispose: () => rm(dir, { recursive: true, force: true }),
    };
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}
