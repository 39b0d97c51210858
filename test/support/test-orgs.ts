/**
 * Organisation ids of one test file's own. Test files share the test run's Temporal server and
 * this machine's Docker engine: a site worker polls `site.<org>` and, starting, removes every
 * container and volume labelled with its organisation — two files with a site of the same name
 * take each other's steps and sweep each other's containers. Prefixing every name with the file's
 * own name keeps them apart, and still says in a log or a stuck task queue whose site it was. The
 * prefix ends in "--", which no file name holds, so `site` + `operator-a` never meets
 * `site-operator` + `a`.
 */
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isOrgId, type OrgId } from '../../common/ids.ts';

// Organisation ids are at most 40 characters (common/ids.ts): room for the name after the prefix.
const MAX_PREFIX = 22;

/** `chain-workflow` for …/test/e2e/chain-workflow.test.ts. */
function prefixOf(fileUrl: string): string {
  const stem = basename(fileURLToPath(fileUrl)).replace(/\.(test|suite)\.ts$/, '').replace(/\.ts$/, '');
  return stem.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^[^a-z]+/, '').slice(0, MAX_PREFIX).replace(/-+$/, '');
}

/**
 * The namer of a test file's organisations: `const org = testOrgs(import.meta.url)`, then
 * `org('north')` is `<file>--north` (e.g. `site-operator--north` in site-operator.test.ts).
 * @throws TypeError when the result is not an organisation id (the name too long, or not `[a-z0-9-]`).
 */
export function testOrgs(fileUrl: string): (name: string) => OrgId {
  const prefix = prefixOf(fileUrl);
  return (name) => {
    const org = `${prefix}--${name}`;
    if (name.includes('--') || !isOrgId(org)) throw new TypeError(`"${org}" is not an organisation id ([a-z][a-z0-9-]{0,39}): give a shorter name, of [a-z0-9-] without "--", than "${name}".`);
    return org;
  };
}
