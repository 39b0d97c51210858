/**
 * Other organisations' public keys as a site sees them: fetched from the Parley API and pinned
 * on first use (trust on first use). A key that later differs from its pin is refused with
 * ERR_KEY_CHANGED until the site's operator accepts it — so a compromised or mistaken server
 * cannot swap in a key of its own and read or forge what sites send each other.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ErrorCode, ParleyError } from '../common/errors.ts';
import { writeFileAtomically } from '../common/write-file-atomically.ts';
import type { OrgId } from '../common/ids.ts';
import { fingerprint, jwkThumbprint, parseOrgPublicKeys, type OrgPublicKeys } from '../crypto/index.ts';
import { ApiClientError, type ApiClient } from './api-client.ts';
import type { KeyDirectory } from './key-directory.ts';

/** What a site pinned for one organisation: the thumbprints of its two public keys. */
export interface KeyPin {
  receive: string;
  sign: string;
  pinnedAt: string;
}

export type PinFile = Record<OrgId, KeyPin>;

export async function readPins(file: string): Promise<PinFile> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as PinFile;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new ParleyError(ErrorCode.InvalidInput, `The key pin file ${file} is not valid JSON. Restore it from a backup, or remove it to pin every key afresh.`, { path: file });
  }
}

async function writePins(file: string, pins: PinFile): Promise<void> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  await writeFileAtomically(file, `${JSON.stringify(pins, null, 2)}\n`, { mode: 0o600 });
}

/** Pins `keys` for their organisation, replacing any earlier pin: the operator's acceptance. */
export async function acceptKeys(file: string, keys: OrgPublicKeys, now = new Date()): Promise<void> {
  const pins = await readPins(file);
  pins[keys.org] = { receive: keys.receive.thumbprint, sign: keys.sign.thumbprint, pinnedAt: now.toISOString() };
  await writePins(file, pins);
}

export interface PinnedKeyDirectoryOptions {
  /** Authenticated as this site (its credential) or as a user. */
  api: ApiClient;
  /** Where this site keeps its pins (mode 0600). */
  pinFile: string;
  /** How long a fetched key set is reused before asking the API again. */
  cacheMs?: number;
}

/** A KeyDirectory over the API with trust-on-first-use pinning. */
export function pinnedKeyDirectory(options: PinnedKeyDirectoryOptions): KeyDirectory {
  const cacheMs = options.cacheMs ?? 60_000;
  const cache = new Map<OrgId, { keys: Promise<OrgPublicKeys | undefined>; at: number }>();
  // Pins are read-modify-written by one worker; serialise so two first uses do not race.
  let pinning: Promise<unknown> = Promise.resolve();

  const fetchAndCheck = async (org: OrgId): Promise<OrgPublicKeys | undefined> => {
    let keys: OrgPublicKeys;
    try {
      keys = parseOrgPublicKeys(await options.api.organisationKeys(org));
    } catch (err) {
      if (err instanceof ApiClientError && (err.status === 404 || err.status === 409)) return undefined;
      throw err;
    }
    // The server's thumbprints are not trusted: recompute them from the keys themselves.
    if ((await jwkThumbprint(keys.receive.jwk)) !== keys.receive.thumbprint || (await jwkThumbprint(keys.sign.jwk)) !== keys.sign.thumbprint || keys.org !== org) {
      throw new ParleyError(ErrorCode.KeyInvalid, `The API's keys for "${org}" do not match their thumbprints. Refusing them; ask the server admin to check the server.`, { org });
    }
    const check = pinning.then(async () => {
      const pins = await readPins(options.pinFile);
      const pin = pins[org];
      if (!pin) {
        pins[org] = { receive: keys.receive.thumbprint, sign: keys.sign.thumbprint, pinnedAt: new Date().toISOString() };
        await writePins(options.pinFile, pins);
        return;
      }
      if (pin.receive !== keys.receive.thumbprint || pin.sign !== keys.sign.thumbprint) {
        const changed = pin.sign !== keys.sign.thumbprint ? 'sign' : 'receive';
        throw new ParleyError(
          ErrorCode.KeyChanged,
          `Organisation "${org}"'s published ${changed} key changed: pinned ${fingerprint(pin[changed])}, now ${fingerprint(keys[changed].thumbprint)}. ` +
            `This site refuses it until its operator confirms the change with ${org} out of band and accepts it (parley site trust ${org}).`,
          { org, pinned: pin[changed], published: keys[changed].thumbprint },
        );
      }
    });
    pinning = check.catch(() => undefined);
    await check;
    return keys;
  };

  return {
    async publicKeys(org) {
      const cached = cache.get(org);
      if (cached && Date.now() - cached.at < cacheMs) return cached.keys;
      const keys = fetchAndCheck(org);
      cache.set(org, { keys, at: Date.now() });
      keys.catch(() => cache.delete(org));
      return keys;
    },
  };
}
