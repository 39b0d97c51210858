/**
 * Site credentials: a 256-bit random secret per site, shown once at registration and stored
 * only as its SHA-256. The secret is random, not chosen by a person, so a fast hash suffices:
 * nothing is gained by guessing against the hash.
 */
import { createHash, randomBytes } from 'node:crypto';

/** Every site credential starts with this, so a bearer token's kind is known without parsing. */
export const SITE_CREDENTIAL_PREFIX = 'pst_';

/** A fresh site credential and the hash to store. */
export function newSiteCredential(): { credential: string; hash: string } {
  const credential = `${SITE_CREDENTIAL_PREFIX}${randomBytes(32).toString('base64url')}`;
  return { credential, hash: hashSiteCredential(credential) };
}

/** The stored form of a site credential: SHA-256, hex. */
export function hashSiteCredential(credential: string): string {
  return createHash('sha256').update(credential, 'utf8').digest('hex');
}
