/**
 * The run manifests a site worker has verified, so that a run's later steps at the site do not
 * verify the same signature again (issue 17): every step of a run carries the same signed
 * manifest, and its verification went through WebCrypto's thread pool, which a busy worker shares
 * with its file I/O.
 *
 * Only what verified is remembered, keyed by the SHA-256 of the exact compact JWS together with
 * the thumbprint of the key it verified with: another manifest, one byte of it changed, or the
 * same manifest against another key (the requester's pin changed) is verified afresh. A hit
 * returns the claims parsed again from the JWS, exactly as a fresh verification would; the
 * checks on their meaning (run id, expiry, policy, the step) still run at every step.
 */
import { createHash } from 'node:crypto';
import type { JWK } from 'jose';
import type { RunManifest } from '../common/run-manifest.ts';
import { jwkThumbprintSync, readRunManifest, verifyRunManifest } from '../crypto/index.ts';

/** Runs a worker keeps verified at once; a worker sees a few at a time, so a small bound suffices. */
const DEFAULT_LIMIT = 512;

export class VerifiedManifests {
  readonly #verified = new Map<string, true>();
  readonly #limit: number;

  constructor(limit = DEFAULT_LIMIT) {
    this.#limit = limit;
  }

  /**
   * verifyRunManifest, once per (manifest, key).
   * @throws ParleyError ManifestInvalid as verifyRunManifest does; a refusal is never remembered.
   */
  async verify(jws: unknown, requesterSignKey: JWK): Promise<RunManifest> {
    const key = cacheKey(jws, requesterSignKey);
    // Not a string, or a key without its members: verifyRunManifest refuses it as it always has.
    if (key === undefined) return verifyRunManifest(jws, requesterSignKey);
    if (this.#verified.has(key)) {
      // Most recently used last: the oldest goes first when the bound is reached.
      this.#verified.delete(key);
      this.#verified.set(key, true);
      return readRunManifest(jws);
    }
    const manifest = await verifyRunManifest(jws, requesterSignKey);
    if (this.#verified.size >= this.#limit) this.#verified.delete(this.#verified.keys().next().value!);
    this.#verified.set(key, true);
    return manifest;
  }
}

function cacheKey(jws: unknown, key: JWK): string | undefined {
  if (typeof jws !== 'string') return undefined;
  let thumbprint: string;
  try {
    thumbprint = jwkThumbprintSync(key);
  } catch {
    return undefined;
  }
  return `${createHash('sha256').update(jws, 'utf8').digest('base64url')}.${thumbprint}`;
}
