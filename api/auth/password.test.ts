import { describe, expect, it } from 'vitest';
import { DEFAULT_SCRYPT_COST, hashAhead, hashPassword, rememberFreshHashes, verifyPassword } from './password.ts';

describe('password hashing', () => {
  it('hashes with scrypt at N = 2^17, r = 8, p = 1 by default, and verifies', async () => {
    const stored = await hashPassword('correct horse battery staple');
    expect(DEFAULT_SCRYPT_COST).toEqual({ log2N: 17, r: 8, p: 1 });
    expect(stored).toMatch(/^scrypt\$17\$8\$1\$[\w-]{22}\$[\w-]{43}$/);
    expect(await verifyPassword('correct horse battery staple', stored)).toBe(true);
    expect(await verifyPassword('correct horse battery stapler', stored)).toBe(false);
  });

  it('salts every hash, so equal passwords hash differently', async () => {
    const cost = { log2N: 10, r: 8, p: 1 };
    expect(await hashPassword('same', cost)).not.toBe(await hashPassword('same', cost));
  });

  it('verifies with the parameters stored in the hash, not the current default', async () => {
    const stored = await hashPassword('older', { log2N: 12, r: 4, p: 2 });
    expect(stored.startsWith('scrypt$12$4$2$')).toBe(true);
    expect(await verifyPassword('older', stored)).toBe(true);
  });

  it('never matches a malformed or out-of-bounds stored form', async () => {
    for (const stored of ['', 'plain', 'scrypt$17$8$1$salt', 'bcrypt$10$8$1$c2FsdA$aGFzaA', 'scrypt$40$8$1$c2FsdA$aGFzaA', `scrypt$10$8$1$c2FsdA$${'A'.repeat(10)}`]) {
      expect(await verifyPassword('anything', stored)).toBe(false);
    }
  });
});

describe('hashes begun ahead, for the demo', () => {
  it('gives the next hash of that password at that cost the one begun ahead, salted afresh and verifiable, and only once', async () => {
    const cost = { log2N: 12, r: 8, p: 1 };
    hashAhead('known before the API is up', cost);
    const first = await hashPassword('known before the API is up', cost);
    expect(first).toMatch(/^scrypt\$12\$8\$1\$[\w-]{22}\$[\w-]{43}$/);
    expect(await verifyPassword('known before the API is up', first)).toBe(true);
    expect(await verifyPassword('known before the API is u', first)).toBe(false);
    // Taken: the next hash of the same password is derived anew, with another salt.
    const second = await hashPassword('known before the API is up', cost);
    expect(second).not.toBe(first);
    expect(await verifyPassword('known before the API is up', second)).toBe(true);
  });

  it('is not taken by another password or another cost, which are hashed as usual', async () => {
    const cost = { log2N: 12, r: 8, p: 1 };
    hashAhead('one password', cost);
    const other = await hashPassword('another password', cost);
    expect(await verifyPassword('another password', other)).toBe(true);
    expect(await verifyPassword('one password', other)).toBe(false);
    const costlier = await hashPassword('one password', { log2N: 13, r: 8, p: 1 });
    expect(costlier.startsWith('scrypt$13$8$1$')).toBe(true);
    expect(await verifyPassword('one password', costlier)).toBe(true);
  });
});

// Last in the file: the opt-in holds for the rest of the process.
describe('fresh hashes, remembered for the demo', () => {
  it('keeps the hash and its cost as they are, and verifies the password, not another, before and after its one reuse', async () => {
    rememberFreshHashes();
    const stored = await hashPassword('set just now, signed in next');
    expect(stored).toMatch(/^scrypt\$17\$8\$1\$[\w-]{22}\$[\w-]{43}$/);
    expect(await verifyPassword('set just now, signed in nex', stored)).toBe(false);
    expect(await verifyPassword('set just now, signed in next', stored)).toBe(true);
    expect(await verifyPassword('set just now, signed in next', stored)).toBe(true);
    expect(await verifyPassword('set just now, signed in nex', stored)).toBe(false);
  });
});
