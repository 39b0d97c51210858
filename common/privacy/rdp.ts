/**
 * Rényi differential privacy (Mironov, "Rényi Differential Privacy", CSF 2017) for the Skellam
 * mechanism, the one Parley's secure sums add noise with: the curve ε(α) of one release,
 * composition (curves add), conversion to (ε, δ), and calibration of the noise to a target
 * (ε, δ). Pure functions over plain numbers, shared by the site (which charges budgets), the
 * coordinator (which passes the noise to the protocol steps) and the researcher (intervals).
 *
 * The Skellam mechanism (Agarwal, Kairouz, Liu, "The Skellam Mechanism for Differentially Private
 * Federated Learning", NeurIPS 2021, arXiv:2110.04995) adds to each integer coordinate
 * Sk(μ) = Poisson(μ/2) − Poisson(μ/2), of variance μ. Independent Skellams add up to a Skellam
 * (variances add), so n sites each adding Sk(μ/n) before a secure sum release a total carrying
 * exactly Sk(μ): no party ever sees the total without its noise. Their Theorem 3.5 bounds its
 * RDP, for integer α > 1, L1 sensitivity Δ1 and L2 sensitivity Δ2:
 *
 *   ε(α) ≤ α Δ2² / (2μ) + min( ((2α − 1) Δ2² + 6 Δ1) / (4μ²), 3 Δ1 / (2μ) ).
 *
 * Conversion from RDP to (ε, δ): Balle, Barthe, Gaboardi, Hsu, Sato, "Hypothesis Testing
 * Interpretations and Rényi Differential Privacy" (AISTATS 2020), Theorem 21, as Google's
 * dp_accounting and Opacus use it: ε = ε(α) + log((α − 1)/α) − (log δ + log α)/(α − 1),
 * minimised over the orders.
 */

/**
 * The Rényi orders a curve is kept at: integers only, since the Skellam bound holds for integer α.
 * Dense where small ε and δ put the optimum (2 to 64), sparser above for large ε.
 */
export const RDP_ORDERS: readonly number[] = Object.freeze([
  ...Array.from({ length: 63 }, (_, i) => i + 2),
  ...Array.from({ length: 24 }, (_, i) => 72 + 8 * i),
  320, 384, 448, 512, 640, 768, 1024,
]);

/** ε(α) at each order of `orders` (RDP_ORDERS unless given), in the same order. */
export type RdpCurve = number[];

/**
 * The RDP curve of one Skellam release of variance `variance` per coordinate, for a query of
 * sensitivities `l1` and `l2` (Agarwal et al. 2021, Theorem 3.5).
 */
export function skellamRdp(variance: number, sensitivity: { l1: number; l2: number }, orders: readonly number[] = RDP_ORDERS): RdpCurve {
  if (!(variance > 0) || !Number.isFinite(variance)) throw new RangeError('skellamRdp: the variance must be a positive finite number.');
  const { l1, l2 } = sensitivity;
  if (!(l1 > 0) || !(l2 > 0)) throw new RangeError('skellamRdp: sensitivities must be positive.');
  return orders.map((alpha) => {
    if (!Number.isInteger(alpha) || alpha < 2) throw new RangeError('skellamRdp: the Skellam bound holds for integer orders of at least 2.');
    const leading = (alpha * l2 * l2) / (2 * variance);
    const tail = Math.min(((2 * alpha - 1) * l2 * l2 + 6 * l1) / (4 * variance * variance), (3 * l1) / (2 * variance));
    return leading + tail;
  });
}

/** The Gaussian mechanism's curve, α Δ2² / (2σ²) (Mironov 2017, Proposition 7): for checks against published figures. */
export function gaussianRdp(sigma: number, l2: number, orders: readonly number[] = RDP_ORDERS): RdpCurve {
  return orders.map((alpha) => (alpha * l2 * l2) / (2 * sigma * sigma));
}

/** The curve of running every release in `curves` on the same data: RDP composes by addition (Mironov 2017, Proposition 1). */
export function composeRdp(curves: readonly RdpCurve[], orders: readonly number[] = RDP_ORDERS): RdpCurve {
  const total = orders.map(() => 0);
  for (const curve of curves) {
    if (curve.length !== orders.length) throw new RangeError('composeRdp: every curve must be kept at the same orders.');
    curve.forEach((e, i) => (total[i]! += e));
  }
  return total;
}

/**
 * The smallest ε for which a mechanism with RDP curve `curve` is (ε, δ)-DP (Balle et al. 2020,
 * Theorem 21), and the order that gives it. Never below 0.
 */
export function rdpToDp(curve: RdpCurve, delta: number, orders: readonly number[] = RDP_ORDERS): { epsilon: number; order: number } {
  if (!(delta > 0 && delta < 1)) throw new RangeError('rdpToDp: δ must be in (0, 1).');
  if (curve.length !== orders.length) throw new RangeError('rdpToDp: the curve must be kept at the given orders.');
  let best = { epsilon: Infinity, order: orders[0]! };
  orders.forEach((alpha, i) => {
    const epsilon = curve[i]! + Math.log((alpha - 1) / alpha) - (Math.log(delta) + Math.log(alpha)) / (alpha - 1);
    if (epsilon < best.epsilon) best = { epsilon, order: alpha };
  });
  return { epsilon: Math.max(0, best.epsilon), order: best.order };
}

/** Sensitivity one in both norms: what calibrate() targets (see the layout's scaling in skellamNoisePlan). */
export const UNIT_SENSITIVITY = Object.freeze({ l1: 1, l2: 1 });

/**
 * The smallest variance μ (to within 0.1 %) such that one Skellam release of a sensitivity-1
 * query is (ε, δ)-DP by the bound above. A release of several groups of coordinates scales it
 * per group (see the protocol images); its RDP curve stays below skellamRdp(μ, UNIT_SENSITIVITY).
 */
export function calibrateSkellam(target: { epsilon: number; delta: number }): number {
  const { epsilon, delta } = target;
  if (!(epsilon > 0) || !Number.isFinite(epsilon)) throw new RangeError('calibrateSkellam: ε must be a positive finite number.');
  const spends = (variance: number) => rdpToDp(skellamRdp(variance, UNIT_SENSITIVITY), delta).epsilon;
  let low = 1e-6;
  let high = 1;
  while (spends(high) > epsilon) high *= 2;
  // Bisection in log space: the spend falls as the variance grows.
  while (high / low > 1.001) {
    const mid = Math.sqrt(low * high);
    if (spends(mid) > epsilon) low = mid;
    else high = mid;
  }
  return high;
}
