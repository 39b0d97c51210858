/**
 * The accountant against published values: the figures of Google's dp_accounting
 * (python/dp_accounting/rdp/rdp_privacy_accountant_test.py: test_compute_epsilon_delta_pure_dp
 * and test_compute_epsilon_delta_gaussian), then the calibration and the Skellam curve's limit.
 */
import { describe, expect, it } from 'vitest';
import { calibrateSkellam, composeRdp, gaussianRdp, RDP_ORDERS, rdpToDp, skellamRdp, UNIT_SENSITIVITY } from './rdp.ts';

describe('rdpToDp, against dp_accounting\'s published values', () => {
  it('turns the pure-DP curve 1.1 at orders 2..32 into ε = 1.32783806176 at δ = 1e-5, at order 32', () => {
    const orders = Array.from({ length: 31 }, (_, i) => i + 2);
    const { epsilon, order } = rdpToDp(orders.map(() => 1.1), 1e-5, orders);
    expect(epsilon).toBeCloseTo(1.32783806176, 10);
    expect(order).toBe(32);
  });

  it('finds (1, 1e-6)-DP for the Gaussian of σ = 4.530877117 over orders 1.000 to 99.999', () => {
    // As dp_accounting builds them: 0.001 · i for i in range(1000, 100000). Order 1 gives no
    // bound (0 · ∞) and is passed over.
    const orders = Array.from({ length: 99_000 }, (_, i) => 0.001 * (i + 1000));
    const { epsilon } = rdpToDp(gaussianRdp(4.530877117, 1, orders), 1e-6, orders);
    expect(Math.abs(epsilon - 1)).toBeLessThan(1e-6);
  });

  it('refuses δ outside (0, 1) and a curve kept at other orders', () => {
    expect(() => rdpToDp([1], 0, [2])).toThrow(RangeError);
    expect(() => rdpToDp([1], 1, [2])).toThrow(RangeError);
    expect(() => rdpToDp([1, 2], 1e-5, [2])).toThrow(/same orders|given orders/);
  });
});

describe('composeRdp', () => {
  it('adds the curves of releases on the same data, order by order', () => {
    const one = skellamRdp(100, UNIT_SENSITIVITY);
    const twice = composeRdp([one, one]);
    twice.forEach((e, i) => expect(e).toBeCloseTo(2 * one[i]!, 12));
    // Two releases spend more than one, less than twice as much (the conversion is sublinear).
    const once = rdpToDp(one, 1e-5).epsilon;
    const both = rdpToDp(twice, 1e-5).epsilon;
    expect(both).toBeGreaterThan(once);
    expect(both).toBeLessThan(2 * once);
  });
});

describe('calibrateSkellam', () => {
  it.each([
    [0.1, 1e-6],
    [1, 1e-5],
    [10, 1e-5],
  ])('at ε = %s, δ = %s gives a variance that spends at most ε, and a variance a thousandth smaller spends more', (epsilon, delta) => {
    const variance = calibrateSkellam({ epsilon, delta });
    expect(rdpToDp(skellamRdp(variance, UNIT_SENSITIVITY), delta).epsilon).toBeLessThanOrEqual(epsilon);
    expect(rdpToDp(skellamRdp(variance * 0.999, UNIT_SENSITIVITY), delta).epsilon).toBeGreaterThan(epsilon);
  });

  it('asks for more noise for a smaller ε or a smaller δ', () => {
    expect(calibrateSkellam({ epsilon: 0.5, delta: 1e-5 })).toBeGreaterThan(calibrateSkellam({ epsilon: 1, delta: 1e-5 }));
    expect(calibrateSkellam({ epsilon: 1, delta: 1e-8 })).toBeGreaterThan(calibrateSkellam({ epsilon: 1, delta: 1e-5 }));
  });

  it('refuses a non-positive ε', () => {
    expect(() => calibrateSkellam({ epsilon: 0, delta: 1e-5 })).toThrow(RangeError);
  });
});

describe('skellamRdp', () => {
  it('tends to the Gaussian curve of the same variance as the variance grows, from above', () => {
    const gap = (variance: number) => {
      const skellam = skellamRdp(variance, UNIT_SENSITIVITY);
      const gaussian = gaussianRdp(Math.sqrt(variance), 1);
      skellam.forEach((e, i) => expect(e).toBeGreaterThan(gaussian[i]!));
      return Math.max(...skellam.map((e, i) => e / gaussian[i]! - 1));
    };
    const gaps = [10, 1e3, 1e5, 1e7].map(gap);
    for (let i = 1; i < gaps.length; i++) expect(gaps[i]!).toBeLessThan(gaps[i - 1]!);
    expect(gaps[gaps.length - 1]!).toBeLessThan(1e-6);
    const at = (variance: number) => rdpToDp(skellamRdp(variance, UNIT_SENSITIVITY), 1e-5).epsilon / rdpToDp(gaussianRdp(Math.sqrt(variance), 1), 1e-5).epsilon;
    expect(at(1e6)).toBeCloseTo(1, 5);
  });

  it('refuses a non-integer order, a non-positive variance or sensitivity', () => {
    expect(() => skellamRdp(10, UNIT_SENSITIVITY, [2.5])).toThrow(/integer orders/);
    expect(() => skellamRdp(0, UNIT_SENSITIVITY)).toThrow(RangeError);
    expect(() => skellamRdp(10, { l1: 0, l2: 1 })).toThrow(RangeError);
    expect(skellamRdp(10, UNIT_SENSITIVITY)).toHaveLength(RDP_ORDERS.length);
  });
});
