/**
 * Builds a workflow bundle from a modified copy of the workflow sources, to show that replay
 * catches a change that would break past runs. The copy lives in a temporary directory inside
 * the repository (so the bundler resolves @temporalio/workflow from its node_modules) and is
 * removed once bundled. Its entry point exports the ring workflow only.
 */
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode, type WorkflowBundle } from '@temporalio/worker';

const root = fileURLToPath(new URL('../..', import.meta.url));

/**
 * The bundle of workflows/ with `edit` applied to one file's text.
 * @throws Error when `edit` leaves the file unchanged (the change would prove nothing).
 */
export async function bundleModifiedWorkflows(file: string, edit: (source: string) => string): Promise<WorkflowBundle> {
  const dir = await mkdtemp(join(root, 'test', '.modified-workflows-'));
  try {
    await cp(join(root, 'workflows'), join(dir, 'workflows'), { recursive: true });
    await cp(join(root, 'common'), join(dir, 'common'), { recursive: true });
    await mkdir(join(dir, 'activities'));
    await cp(join(root, 'activities', 'types.ts'), join(dir, 'activities', 'types.ts'));
    const target = join(dir, 'workflows', file);
    const original = await readFile(target, 'utf8');
    const changed = edit(original);
    if (changed === original) throw new Error(`The edit left workflows/${file} unchanged.`);
    await writeFile(target, changed);
    // Only the ring workflow: the replayed histories need nothing else, and other workflows
    // being edited elsewhere in the tree must not break this bundle.
    await writeFile(join(dir, 'workflows', 'index.ts'), "export { secureSumRingWorkflow } from './secure-sum-ring.ts';\n");
    const bundle = await bundleWorkflowCode({
      workflowsPath: join(dir, 'workflows', 'index.ts'),
      logger: { trace() {}, debug() {}, info() {}, warn() {}, error: (message, meta) => console.error(message, meta), log() {} },
    });
    return { code: bundle.code };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
