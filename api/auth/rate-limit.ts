/**
 * Login throttling: a fixed-window count of attempts per key, counted when the attempt starts so a
 * burst of parallel guesses is throttled too. The login route keeps two keys per attempt (one per
 * username, one per client address: api/auth/login-throttle.ts). In memory: one API process
 * guards its own door.
 */

/** How many login attempts one key may make per window. */
export interface RateLimit {
  max: number;
  windowSeconds: number;
}

/** Counts attempts per key. */
export interface AttemptLimiter {
  /** Counts one attempt; returns the seconds to wait when the key is over its limit. */
  attempt(key: string, now: Date): { allowed: true } | { allowed: false; retryAfterSeconds: number };
  /** Forgets a key's attempts (after a successful login). */
  reset(key: string): void;
  /** Takes back one counted attempt of a key (one that turned out not to be a guess). */
  refund(key: string): void;
}

const SWEEP_ABOVE = 10_000;

/** Creates an in-memory fixed-window limiter. */
export function createAttemptLimiter(limit: RateLimit): AttemptLimiter {
  const windowMs = limit.windowSeconds * 1000;
  const entries = new Map<string, { count: number; startedAt: number }>();
  const sweep = (now: number) => {
    for (const [key, entry] of entries) if (now - entry.startedAt >= windowMs) entries.delete(key);
  };
  return {
    attempt(key, date) {
      const now = date.getTime();
      if (entries.size > SWEEP_ABOVE) sweep(now);
      const entry = entries.get(key);
      if (entry === undefined || now - entry.startedAt >= windowMs) {
        entries.set(key, { count: 1, startedAt: now });
        return { allowed: true };
      }
      if (entry.count >= limit.max) {
        return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((entry.startedAt + windowMs - now) / 1000)) };
      }
      entry.count += 1;
      return { allowed: true };
    },
    reset(key) {
      entries.delete(key);
    },
    refund(key) {
      const entry = entries.get(key);
      if (entry !== undefined && entry.count > 0) entry.count -= 1;
    },
  };
}
