/**
 * What a secure sum's `privacy` asks for, and the arguments its protocol steps get for it. The
 * coordinator builds the arguments and every site rebuilds them from the signed manifest
 * (activities/check-step.ts): both call protocolPrivacyArgs, so a step whose noise differs from
 * what the requester signed is refused before it runs.
 */
import { calibrateSkellam } from './rdp.ts';

/** Differential privacy of one release, as a chain asks for it. */
export interface PrivacySpec {
  /** ε of the release, in (0, MAX_EPSILON]. */
  epsilon: number;
  /** δ of the release, in (0, MAX_DELTA]. */
  delta: number;
}

/** δ when a chain gives none: well below one in a million records. */
export const DEFAULT_DELTA = 1e-6;
/** Above this ε a "privacy" release protects next to nothing; a typo, most likely. */
export const MAX_EPSILON = 100;
/** δ is the chance the guarantee fails outright: above 1/1000 it is not a guarantee. */
export const MAX_DELTA = 1e-3;

/** What a protocol step reads from `args.privacy`. */
export interface PrivacyArgs {
  epsilon: number;
  delta: number;
  /**
   * The Skellam variance λ of a sensitivity-1 release (calibrateSkellam), rounded up to four
   * significant digits so every party writes the same short number. The images scale it per
   * group of coordinates (algorithms/lib/privacy.js).
   */
  unitVariance: number;
}

/** Calibrations already made, by (ε, δ): a site asks for each release's several times per step check. */
const calibrated = new Map<string, number>();
/** Distinct (ε, δ) pairs kept; past it the cache starts afresh (a pure function: only time is lost). */
const MAX_CALIBRATED = 64;

/** The protocol steps' `privacy` argument for `spec`. */
export function protocolPrivacyArgs(spec: PrivacySpec): PrivacyArgs {
  const key = `${spec.epsilon}/${spec.delta}`;
  let unitVariance = calibrated.get(key);
  if (unitVariance === undefined) {
    // ~0.5 ms of bisection over the Rényi orders: worth doing once per (ε, δ), not per call.
    unitVariance = roundUp(calibrateSkellam(spec), 4);
    if (calibrated.size >= MAX_CALIBRATED) calibrated.clear();
    calibrated.set(key, unitVariance);
  }
  return { epsilon: spec.epsilon, delta: spec.delta, unitVariance };
}

/** `x` rounded up to `digits` significant digits: more noise, never less. */
function roundUp(x: number, digits: number): number {
  const rounded = Number(x.toPrecision(digits));
  return rounded >= x ? rounded : Number((rounded + 10 ** (Math.floor(Math.log10(x)) - digits + 1)).toPrecision(digits));
}
