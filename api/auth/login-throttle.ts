/**
 * The two limits on login attempts. Per username: however many addresses a guesser spreads over,
 * one account takes at most `perUser.max` guesses a window (the price: a guesser can make its
 * owner wait out the window). Per client address: one address sprays at most `perAddress.max`
 * guesses a window over however many usernames. A successful login clears its username's count
 * and takes back its own attempt from the address's, but not the address's failures: logging in
 * to an account of one's own does not buy more guesses at others.
 */
import type { AttemptLimiter, RateLimit } from './rate-limit.ts';
import { createAttemptLimiter } from './rate-limit.ts';

/** The limits, each per window. */
export interface LoginLimits {
  perUser: RateLimit;
  perAddress: RateLimit;
}

/** What one login attempt is told. */
export type LoginVerdict = { allowed: true } | { allowed: false; retryAfterSeconds: number; by: 'username' | 'address' };

/** Counts login attempts by username and by address. */
export interface LoginThrottle {
  /** Counts one attempt; refused when either limit is reached (then neither is counted). */
  attempt(username: string, address: string, now: Date): LoginVerdict;
  /** After a successful login. */
  succeeded(username: string, address: string): void;
}

/** Creates the in-memory throttle. */
export function createLoginThrottle(limits: LoginLimits): LoginThrottle {
  const users: AttemptLimiter = createAttemptLimiter(limits.perUser);
  const addresses: AttemptLimiter = createAttemptLimiter(limits.perAddress);
  return {
    attempt(username, address, now) {
      const byAddress = addresses.attempt(address, now);
      if (!byAddress.allowed) return { ...byAddress, by: 'address' };
      const byUser = users.attempt(username, now);
      if (!byUser.allowed) {
        addresses.refund(address);
        return { ...byUser, by: 'username' };
      }
      return { allowed: true };
    },
    succeeded(username, address) {
      users.reset(username);
      addresses.refund(address);
    },
  };
}
