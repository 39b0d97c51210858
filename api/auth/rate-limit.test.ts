import { describe, expect, it } from 'vitest';
import { createAttemptLimiter } from './rate-limit.ts';

describe('login attempt limiter', () => {
  const at = (seconds: number) => new Date(seconds * 1000);

  it('allows max attempts per window, then says how long to wait', () => {
    const limiter = createAttemptLimiter({ max: 2, windowSeconds: 60 });
    expect(limiter.attempt('k', at(0))).toEqual({ allowed: true });
    expect(limiter.attempt('k', at(1))).toEqual({ allowed: true });
    expect(limiter.attempt('k', at(10))).toEqual({ allowed: false, retryAfterSeconds: 50 });
    expect(limiter.attempt('k', at(60))).toEqual({ allowed: true });
  });

  it('keeps keys apart and forgets a key on reset', () => {
    const limiter = createAttemptLimiter({ max: 1, windowSeconds: 60 });
    limiter.attempt('a', at(0));
    expect(limiter.attempt('b', at(0))).toEqual({ allowed: true });
    expect(limiter.attempt('a', at(0)).allowed).toBe(false);
    limiter.reset('a');
    expect(limiter.attempt('a', at(0))).toEqual({ allowed: true });
  });

  it('stays bounded: expired keys are swept once many accumulate', () => {
    const limiter = createAttemptLimiter({ max: 1, windowSeconds: 1 });
    for (let i = 0; i < 20_000; i += 1) limiter.attempt(`key-${i}`, at(0));
    expect(limiter.attempt('late', at(5))).toEqual({ allowed: true });
    expect(limiter.attempt('key-1', at(5))).toEqual({ allowed: true });
  });

  it('takes back one attempt on refund, never below zero', () => {
    const limiter = createAttemptLimiter({ max: 1, windowSeconds: 60 });
    limiter.refund('a');
    limiter.attempt('a', at(0));
    limiter.refund('a');
    limiter.refund('a');
    expect(limiter.attempt('a', at(1))).toEqual({ allowed: true });
    expect(limiter.attempt('a', at(2)).allowed).toBe(false);
  });
});
