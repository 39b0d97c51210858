/**
 * Where a site finds other organisations' public keys. The one-machine setup publishes them as
 * files in a shared directory; a deployment fetches them from the Parley API.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isOrgId, type OrgId } from '../common/ids.ts';
import { writeFileAtomically } from '../common/write-file-atomically.ts';
import { parseOrgPublicKeys, type OrgPublicKeys } from '../crypto/index.ts';

export interface KeyDirectory {
  /** The organisation's current public keys, or undefined when it is unknown. */
  publicKeys(org: OrgId): Promise<OrgPublicKeys | undefined>;
}

/** A directory of `<org>.json` public-key files; cached per process once read. */
export function fileKeyDirectory(dir: string): KeyDirectory {
  const cache = new Map<OrgId, OrgPublicKeys>();
  return {
    async publicKeys(org) {
      if (!isOrgId(org)) return undefined;
      const cached = cache.get(org);
      if (cached) return cached;
      let text: string;
      try {
        text = await readFile(join(dir, `${org}.json`), 'utf8');
      } catch {
        return undefined;
      }
      const keys = parseOrgPublicKeys(JSON.parse(text));
      cache.set(org, keys);
      return keys;
    },
  };
}

/** Publishes an organisation's public keys into a file directory (atomic write). */
export async function publishPublicKeys(dir: string, keys: OrgPublicKeys): Promise<void> {
  await mkdir(dir, { recursive: true });
  const target = join(dir, `${keys.org}.json`);
  await writeFileAtomically(target, `${JSON.stringify(keys, null, 2)}\n`);
}
