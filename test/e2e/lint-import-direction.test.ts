/**
 * `npm run lint` enforces DESIGN.md's direction of imports (eslint.config.js): each case lints
 * an in-memory file with the repository's own ESLint configuration, as `npm run lint` would.
 */
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';
import { beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const RULE = 'import/no-restricted-paths';

let eslint: ESLint;
beforeAll(() => {
  eslint = new ESLint({ cwd: ROOT });
});

/** The import-direction complaints about `source` as if it were the file at `path`. */
async function directionErrors(path: string, source: string): Promise<string[]> {
  const [result] = await eslint.lintText(source, { filePath: `${ROOT}${path}` });
  return result!.messages.filter((m) => m.ruleId === RULE).map((m) => m.message);
}

describe('the import direction lint', () => {
  it('refuses a workflow importing an activity implementation, naming the rule', async () => {
    const errors = await directionErrors('workflows/x.ts', "import { createSiteActivities } from '../activities/site-activities.ts';\nexport const x = createSiteActivities;\n");
    expect(errors).toEqual([expect.stringMatching(/DESIGN\.md "Direction of imports": workflows never import activities' implementations, only activities\/types\.ts as types/)]);
  });

  it('lets a workflow import the activities\' types and common/', async () => {
    const errors = await directionErrors('workflows/x.ts', "import type { StepOutcome } from '../activities/types.ts';\nimport { siteTaskQueue } from '../common/ids.ts';\nexport type X = StepOutcome;\nexport const y = siteTaskQueue;\n");
    expect(errors).toEqual([]);
  });

  it('refuses a workflow importing crypto/ or db/', async () => {
    const errors = await directionErrors('workflows/x.ts', "import { sealEnvelope } from '../crypto/index.ts';\nimport { runs } from '../db/schema.ts';\nexport const x = [sealEnvelope, runs];\n");
    expect(errors).toEqual([
      expect.stringMatching(/workflows\/ imports only common\//),
      expect.stringMatching(/workflows\/ imports only common\//),
    ]);
  });

  it('refuses api importing workers, and workers importing api', async () => {
    expect(await directionErrors('api/x.ts', "import { buildSiteWorker } from '../workers/site/build-site-worker.ts';\nexport const x = buildSiteWorker;\n"))
      .toEqual([expect.stringMatching(/api\/ never imports workers\//)]);
    expect(await directionErrors('workers/x.ts', "import { createApp } from '../api/app.ts';\nexport const x = createApp;\n"))
      .toEqual([expect.stringMatching(/workers reach the API only over HTTP/)]);
  });

  it('refuses demo/ outside cli/ and tests, and cli/ anywhere else', async () => {
    expect(await directionErrors('researcher/x.ts', "import { startLocalCluster } from '../demo/local-cluster.ts';\nexport const x = startLocalCluster;\n"))
      .toEqual([expect.stringMatching(/only cli\/ and tests import demo\//)]);
    expect(await directionErrors('demo/x.ts', "import { main } from '../cli/main.ts';\nexport const x = main;\n"))
      .toEqual([expect.stringMatching(/nothing imports cli\//)]);
    expect(await directionErrors('cli/x.ts', "import { startLocalCluster } from '../demo/local-cluster.ts';\nexport const x = startLocalCluster;\n")).toEqual([]);
  });

  it('refuses a lower room importing a higher one', async () => {
    expect(await directionErrors('crypto/x.ts', "import { createApiClient } from '../activities/api-client.ts';\nexport const x = createApiClient;\n"))
      .toEqual([expect.stringMatching(/crypto\/ imports only common\//)]);
  });

  it('lets tests import any room', async () => {
    expect(await directionErrors('workflows/x.test.ts', "import { createSiteActivities } from '../activities/site-activities.ts';\nexport const x = createSiteActivities;\n")).toEqual([]);
  });
});
