/**
 * The public keys an auditor needs for a run: those of every organisation its envelopes name,
 * taken from a key directory (a directory of `<org>.json` files, or the Parley API).
 */
import { ErrorCode, ParleyError } from '../common/errors.ts';
import { parseOrgPublicKeys, type OrgPublicKeys } from '../crypto/index.ts';
import type { KeyDirectory } from '../activities/key-directory.ts';

/**
 * Each of `orgs`' public keys, re-validated as public keys only (a private member is refused by
 * parseOrgPublicKeys, so a bundle can never carry one).
 * @param source names the directory in the error, e.g. "--keys-dir ./keys".
 * @throws ParleyError NotFound naming every organisation whose keys are missing.
 */
export async function collectPublicKeys(orgs: readonly string[], directory: KeyDirectory, source: string): Promise<Record<string, OrgPublicKeys>> {
  const found: Record<string, OrgPublicKeys> = {};
  const missing: string[] = [];
  for (const org of orgs) {
    const keys = await directory.publicKeys(org);
    if (keys === undefined) {
      missing.push(org);
      continue;
    }
    const checked = parseOrgPublicKeys(keys);
    if (checked.org !== org) {
      throw new ParleyError(ErrorCode.KeyInvalid, `${source} gave the keys of "${checked.org}" for "${org}". Fix the key directory before exporting.`, { org });
    }
    found[org] = checked;
  }
  if (missing.length > 0) {
    throw new ParleyError(
      ErrorCode.NotFound,
      `The run's envelopes name ${missing.length === 1 ? 'an organisation' : 'organisations'} whose public keys ${source} does not have: ${missing.join(', ')}. ` +
        'Without them the bundle could not be verified; add their public-key files, or export with --api from the Parley server that publishes them.',
      { orgs: missing.join(',') },
    );
  }
  return found;
}
