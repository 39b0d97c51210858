/**
 * Every API suite, registered once per database driver by api.pglite.test.ts and
 * api.postgres.test.ts, so the same tests run on both.
 */
import { appSuite } from './app.suite.ts';
import { auditSuite } from './audit/audit.suite.ts';
import { authSuite } from './auth/auth.suite.ts';
import { blobsSuite } from './blobs/blobs.suite.ts';
import { chainRunsSuite } from './runs/chain-runs.suite.ts';
import { loggingSuite } from './logging.suite.ts';
import { openApiFuzzSuite } from './openapi-fuzz.suite.ts';
import { collaborationsSuite } from './collaborations/collaborations.suite.ts';
import { organisationsSuite } from './organisations/organisations.suite.ts';
import { runsSuite } from './runs/runs.suite.ts';
import { sitesSuite } from './sites/sites.suite.ts';
import type { Harness } from './testing/harness.ts';
import { usersSuite } from './users/users.suite.ts';

/** Registers all API suites against the harness. */
export function registerApiSuites(h: () => Harness): void {
  appSuite(h);
  authSuite(h);
  organisationsSuite(h);
  usersSuite(h);
  collaborationsSuite(h);
  sitesSuite(h);
  runsSuite(h);
  chainRunsSuite(h);
  auditSuite(h);
  blobsSuite(h);
  openApiFuzzSuite(h);
  loggingSuite(h);
}
