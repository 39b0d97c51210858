/**
 * Checks a chain run request against the collaboration before anything starts: who takes part
 * (as for the ring: members with a live site and published keys, never the requester), that a
 * chain with a secure sum has at least 3 of them, and that every `at` site is one of them.
 */
import type { ChainSpec } from '../../common/chain.ts';
import type { Database } from '../../db/client.ts';
import { MIN_SECURE_SUM_SITES, checkChainRules, specStepShapes } from '../../chains/index.ts';
import { conflict } from '../errors.ts';
import type { UserPrincipal } from '../router.ts';
import { checkRunRequest } from './start-run.ts';
import type { CheckedRun } from './start-run.ts';

/**
 * Resolves and checks the participants of a chain run.
 * @throws ApiError as checkRunRequest; 409 naming `chain.steps[i].at[j]` for a site not taking part.
 */
export async function checkChainRunRequest(db: Database, user: UserPrincipal, collaborationId: string, chain: ChainSpec, asked: string[] | undefined): Promise<CheckedRun> {
  const hasSecureSum = chain.steps.some((s) => s.kind === 'secure-sum');
  const checked = await checkRunRequest(db, user, collaborationId, asked, hasSecureSum ? MIN_SECURE_SUM_SITES : 1);
  const [problem] = checkChainRules(specStepShapes(chain), { list: checked.participants, path: 'participants' });
  if (problem !== undefined) {
    const field = problem.path.startsWith('steps') ? `chain.${problem.path}` : problem.path;
    throw conflict(`${field} ${problem.message}`, field);
  }
  return checked;
}
