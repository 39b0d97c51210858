/**
 * Password hashing with scrypt (RFC 7914), a memory-hard KDF in node:crypto. The stored form
 * carries its own parameters and salt — `scrypt$<log2 N>$<r>$<p>$<salt>$<hash>` — so the cost
 * can be raised later without invalidating existing hashes.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7914
 */
import { createHmac, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

/** scrypt's cost: N = 2^log2N, block size r, parallelism p. Memory is about 128·N·r bytes. */
export interface ScryptCost {
  log2N: number;
  r: number;
  p: number;
}

/** OWASP's recommended minimum (N = 2^17, r = 8, p = 1): 128 MiB and ~0.2 s per hash. */
export const DEFAULT_SCRYPT_COST: ScryptCost = { log2N: 17, r: 8, p: 1 };

const KEY_BYTES = 32;
const SALT_BYTES = 16;

function derive(password: string, salt: Buffer, cost: ScryptCost): Promise<Buffer> {
  const N = 2 ** cost.log2N;
  // maxmem must exceed 128·N·r or node refuses; leave headroom.
  const maxmem = 256 * N * cost.r + 32 * 1024 * 1024;
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFC'), salt, KEY_BYTES, { N, r: cost.r, p: cost.p, maxmem }, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/**
 * Hashes just made, each verifiable once without deriving it again (rememberFreshHashes): the
 * stored form → an HMAC of the password under a key of this process's own, and when it lapses.
 */
let fresh: { key: Buffer; ttlMs: number; hashes: Map<string, { check: Buffer; until: number }> } | undefined;

/**
 * Opt-in, for a process that signs in right after it sets a password (the demo: the admin it
 * bootstraps, the researcher it creates): each hash this process makes from now on verifies
 * once, within `ttlMs`, against the password it was made from without a second scrypt. The
 * stored hash and its cost are unchanged; only this process's memory holds the HMAC, under a
 * random key of its own, until it is used or lapses.
 */
export function rememberFreshHashes(ttlMs = 60_000): void {
  fresh ??= { key: randomBytes(32), ttlMs, hashes: new Map() };
}

const freshCheck = (key: Buffer, password: string) => createHmac('sha256', key).update(password.normalize('NFC')).digest();

/**
 * Hashes begun ahead of their use (hashAhead): an HMAC of the cost and password, under a key of
 * this process's own, → the hash being made.
 */
let ahead: { key: Buffer; hashes: Map<string, Promise<string>> } | undefined;

const aheadId = (key: Buffer, password: string, cost: ScryptCost) => createHmac('sha256', key).update(`${cost.log2N}$${cost.r}$${cost.p}$`).update(password.normalize('NFC')).digest('base64url');

async function makeHash(password: string, cost: ScryptCost): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(password, salt, cost);
  return ['scrypt', cost.log2N, cost.r, cost.p, salt.toString('base64url'), key.toString('base64url')].join('$');
}

/**
 * Opt-in, for a process that knows a password it is about to set and has other work to do
 * meanwhile (the demo: its admin's and researcher's passwords, known before the API it starts is
 * up): begins hashing `password` now — a fresh salt, the full `cost` — so that the next
 * hashPassword of that password at that cost, within `ttlMs`, takes this hash instead of deriving
 * one only then. The stored form is the one hashPassword makes; only this process's memory holds
 * the pending hash, under an HMAC of the password with a random key of its own, until it is taken
 * or lapses.
 */
export function hashAhead(password: string, cost: ScryptCost = DEFAULT_SCRYPT_COST, ttlMs = 60_000): void {
  ahead ??= { key: randomBytes(32), hashes: new Map() };
  const { hashes } = ahead;
  const id = aheadId(ahead.key, password, cost);
  const pending = makeHash(password, cost);
  // Taken or not, a failure here is not an unhandled rejection: hashPassword derives anew.
  pending.catch(() => undefined);
  hashes.set(id, pending);
  setTimeout(() => {
    if (hashes.get(id) === pending) hashes.delete(id);
  }, ttlMs).unref();
}

/** The hash begun ahead for this password and cost, once; undefined when there is none. */
function takeAhead(password: string, cost: ScryptCost): Promise<string> | undefined {
  if (!ahead) return undefined;
  const id = aheadId(ahead.key, password, cost);
  const pending = ahead.hashes.get(id);
  ahead.hashes.delete(id);
  return pending?.catch(() => makeHash(password, cost));
}

/** Hashes a password with a fresh salt; returns the self-describing stored form. */
export async function hashPassword(password: string, cost: ScryptCost = DEFAULT_SCRYPT_COST): Promise<string> {
  const stored = await (takeAhead(password, cost) ?? makeHash(password, cost));
  if (fresh) {
    const now = Date.now();
    for (const [hash, entry] of fresh.hashes) if (entry.until <= now) fresh.hashes.delete(hash);
    fresh.hashes.set(stored, { check: freshCheck(fresh.key, password), until: now + fresh.ttlMs });
  }
  return stored;
}

/**
 * True when `password` matches `stored`. A malformed stored form, or one with parameters outside
 * sane bounds, never matches (it cannot come from hashPassword).
 */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const remembered = fresh?.hashes.get(stored);
  if (remembered && remembered.until > Date.now() && timingSafeEqual(freshCheck(fresh!.key, password), remembered.check)) {
    // Used once: every later sign-in derives the key as usual.
    fresh!.hashes.delete(stored);
    return true;
  }
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [log2N, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  if (![log2N, r, p].every(Number.isInteger) || log2N < 10 || log2N > 22 || r < 1 || r > 32 || p < 1 || p > 16) return false;
  const salt = Buffer.from(parts[4]!, 'base64url');
  const expected = Buffer.from(parts[5]!, 'base64url');
  if (expected.length !== KEY_BYTES) return false;
  const actual = await derive(password, salt, { log2N, r, p });
  return timingSafeEqual(actual, expected);
}
