/**
 * Exact sampling of Poisson and Skellam noise for the secure sums' differential privacy
 * (`#parley/skellam` in every image). Node built-ins only.
 *
 * The Skellam mechanism (Agarwal, Kairouz, Liu, "The Skellam Mechanism for Differentially Private
 * Federated Learning", NeurIPS 2021, arXiv:2110.04995) adds Sk(μ) = Poisson(μ/2) − Poisson(μ/2)
 * to each integer coordinate. Skellams of independent draws add up to a Skellam (variances add),
 * so each of n sites adding Sk(μ/n) before a secure sum releases a total carrying exactly Sk(μ).
 * Exactness matters: the privacy analysis is of that distribution, so the sampler must draw from
 * it, not from a rounded normal approximation.
 *
 * Poisson draws: inversion of the cumulative distribution for means below 10, and Hörmann's PTRS
 * ("The transformed rejection method for generating Poisson random variables", Insurance:
 * Mathematics and Economics 12, 1993) above — constant expected time at any mean, so a site's
 * draw takes microseconds even at means of 10^15.
 */
import { createHash, randomBytes } from 'node:crypto';

/**
 * A source of uniform doubles in [0, 1).
 * @typedef {() => number} RandomSource
 */

const TWO_POW_53 = 2 ** 53;
/**
 * The largest Poisson mean drawn in one piece: below it every value PTRS can return (the mean plus
 * a few thousand standard deviations) is a safe integer, and `λ + 0.43` keeps unit resolution.
 */
export const MAX_POISSON_MEAN = 2 ** 52;
/** Pieces a large Poisson mean may be split into (Poisson means add); beyond, the noise is refused. */
const MAX_PIECES = 4096;
/** Below this mean, inversion; at and above, PTRS (Hörmann 1993 states it for μ ≥ 10). */
const PTRS_THRESHOLD = 10;

const POOL_BYTES = 8192;
let pool = Buffer.alloc(0);
let poolAt = 0;

/**
 * Uniform doubles in [0, 1) from node:crypto: 53 random bits per draw (every double k · 2^-53 is
 * equally likely), read from a pooled randomBytes buffer so a draw costs no system call.
 * @type {RandomSource}
 */
export function cryptoRandom() {
  if (poolAt + 8 > pool.length) {
    pool = randomBytes(POOL_BYTES);
    poolAt = 0;
  }
  const high = pool.readUInt32BE(poolAt) >>> 5; // 27 bits
  const low = pool.readUInt32BE(poolAt + 4) >>> 6; // 26 bits
  poolAt += 8;
  return (high * 67108864 + low) / TWO_POW_53;
}

/**
 * A deterministic source for tests only: xoshiro128** (Blackman, Vigna, "Scrambled linear
 * pseudorandom number generators", 2018) seeded with SHA-256 of `seed`. Never for real noise:
 * noise anyone can reproduce protects nothing.
 * @param {string} seed
 * @returns {RandomSource}
 */
export function seededRandom(seed) {
  if (typeof seed !== 'string') throw new TypeError('seededRandom: the seed is a string.');
  const digest = createHash('sha256').update(seed).digest();
  const s = new Uint32Array([digest.readUInt32LE(0), digest.readUInt32LE(4), digest.readUInt32LE(8), digest.readUInt32LE(12)]);
  // The all-zero state is xoshiro's one fixed point; SHA-256 gives it with probability 2^-128.
  if ((s[0] | s[1] | s[2] | s[3]) === 0) s[0] = 1;
  const rotl = (x, k) => ((x << k) | (x >>> (32 - k))) >>> 0;
  const next = () => {
    const result = (rotl(Math.imul(s[1], 5) >>> 0, 7) * 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  };
  return () => ((next() >>> 5) * 67108864 + (next() >>> 6)) / TWO_POW_53;
}

/** log k! for k < 10, exactly as tabulated (PTRS needs it at small k). */
const LOG_FACTORIAL = [0, 0, Math.log(2), Math.log(6), Math.log(24), Math.log(120), Math.log(720), Math.log(5040), Math.log(40320), Math.log(362880)];

/**
 * log P(X = k) for X ~ Poisson(mean), k ≥ 0, without the catastrophic cancellation of
 * k·log(mean) − mean − log k! at large means (those terms reach 10^16 while their sum is near 0):
 * by Stirling's series, log P = −mean·((1 + x)·log1p(x) − x) − ½·log(2πk) − c(k), x = (k − mean)/mean,
 * c(k) = 1/(12k) − 1/(360k³) + 1/(1260k⁵) (error below 10^-10 for k ≥ 10).
 * @param {number} k
 * @param {number} mean
 */
function logPoissonPmf(k, mean) {
  if (k < 10) return k * Math.log(mean) - mean - LOG_FACTORIAL[k];
  const x = (k - mean) / mean;
  const k2 = k * k;
  const correction = (1 / 12 - (1 / 360 - 1 / (1260 * k2)) / k2) / k;
  return -mean * ((1 + x) * Math.log1p(x) - x) - 0.5 * Math.log(2 * Math.PI * k) - correction;
}

/** Inversion: walk the cumulative distribution until it passes one uniform draw. */
function poissonByInversion(mean, random) {
  const u = random();
  let k = 0;
  let p = Math.exp(-mean);
  let cumulative = p;
  // The cap only ends the walk when rounding keeps the sum a hair below u near 1; P(X > 200) at
  // mean 10 is far below 2^-53, so it changes no draw that doubles can tell apart.
  while (u >= cumulative && k < 200) {
    k += 1;
    p *= mean / k;
    cumulative += p;
  }
  return k;
}

/** PTRS, step for step as Hörmann (1993) gives it, with the acceptance test in log space. */
function poissonByPtrs(mean, random) {
  const root = Math.sqrt(mean);
  const b = 0.931 + 2.53 * root;
  const a = -0.059 + 0.02483 * b;
  const logInverseAlpha = Math.log(1.1239 + 1.1328 / (b - 3.4));
  const vr = 0.9277 - 3.6224 / (b - 2);
  for (;;) {
    const u = random() - 0.5;
    const v = random();
    const us = 0.5 - Math.abs(u);
    const k = Math.floor(((2 * a) / us + b) * u + mean + 0.43);
    if (us >= 0.07 && v <= vr) return k;
    if (k < 0 || (us < 0.013 && v > us)) continue;
    if (Math.log(v) + logInverseAlpha - Math.log(a / (us * us) + b) <= logPoissonPmf(k, mean)) return k;
  }
}

/**
 * One draw of Poisson(mean), exactly: inversion below mean 10, PTRS (Hörmann 1993) from 10 up.
 * @param {number} mean finite, 0 ≤ mean ≤ MAX_POISSON_MEAN (2^52)
 * @param {RandomSource} random
 * @returns {number} a non-negative safe integer
 * @throws {RangeError} for a mean outside that range
 */
export function samplePoisson(mean, random) {
  if (typeof mean !== 'number' || !(mean >= 0) || !(mean <= MAX_POISSON_MEAN)) {
    throw new RangeError(`samplePoisson: the mean must be a number from 0 to 2^52.`);
  }
  if (typeof random !== 'function') throw new TypeError('samplePoisson: random is a function returning uniform doubles in [0, 1).');
  if (mean === 0) return 0;
  return mean < PTRS_THRESHOLD ? poissonByInversion(mean, random) : poissonByPtrs(mean, random);
}

/**
 * Poisson(mean) for any mean up to MAX_PIECES · 2^52, as a BigInt: a mean above 2^52 is drawn as
 * the sum of equal Poisson pieces (independent Poissons add up to a Poisson of the summed mean).
 * @param {number} mean
 * @param {RandomSource} random
 * @returns {bigint}
 */
function samplePoissonBig(mean, random) {
  const pieces = Math.ceil(mean / MAX_POISSON_MEAN);
  if (pieces > MAX_PIECES) {
    throw new RangeError(
      'sampleSkellam: the noise variance is too large to draw exactly. Lower the sensitivity (fewer decimals, tighter bounds) or ask for a larger ε.',
    );
  }
  if (pieces <= 1) return BigInt(samplePoisson(mean, random));
  let total = 0n;
  for (let i = 0; i < pieces; i++) total += BigInt(samplePoisson(mean / pieces, random));
  return total;
}

/**
 * One draw of the Skellam distribution of variance `variance`: Poisson(variance/2) −
 * Poisson(variance/2) (Agarwal et al. 2021, Definition 3.1), symmetric about 0.
 * @param {number} variance finite, ≥ 0
 * @param {RandomSource} random
 * @returns {bigint}
 * @throws {RangeError} for a negative, non-finite or undrawably large variance
 */
export function sampleSkellam(variance, random) {
  if (typeof variance !== 'number' || !(variance >= 0) || !Number.isFinite(variance)) {
    throw new RangeError('sampleSkellam: the variance must be a finite number of at least 0.');
  }
  const half = variance / 2;
  return samplePoissonBig(half, random) - samplePoissonBig(half, random);
}
