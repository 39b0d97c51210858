/**
 * Arithmetic modulo a public modulus M for the secure-sum algorithms (`#parley/modular` in every
 * image): parsing values without echoing them, drawing uniform masks and shares, and splitting a
 * value into shares that sum back to it.
 */
import { randomBytes } from 'node:crypto';

const DECIMAL = /^[0-9]+$/;

/**
 * Parses a decimal string as a BigInt in [0, modulus). Returns undefined for anything else
 * (negative, fractional, not a number, too large), so callers can fail with a message that
 * describes the problem without the value.
 * @param {unknown} text
 * @param {bigint} modulus
 * @returns {bigint | undefined}
 */
export function parseResidue(text, modulus) {
  if (typeof text !== 'string') return undefined;
  const trimmed = text.trim();
  // Bounded length: a huge string is as invalid as a huge number, without the cost of parsing it.
  if (!DECIMAL.test(trimmed) || trimmed.length > modulus.toString().length) return undefined;
  const value = BigInt(trimmed);
  return value < modulus ? value : undefined;
}

/**
 * Parses the public modulus: a decimal integer of at least 2.
 * @param {unknown} text
 * @returns {bigint | undefined}
 */
export function parseModulus(text) {
  if (typeof text !== 'string' || !DECIMAL.test(text) || text.length > 1000) return undefined;
  const value = BigInt(text);
  return value >= 2n ? value : undefined;
}

/**
 * A uniform random integer in [0, modulus) from node:crypto, by rejection sampling: draw as
 * many bits as the modulus has and retry when the draw is too large. Reducing a wider draw
 * modulo M instead would favour small values, and a biased mask or share leaks about the
 * value it hides. Each draw is accepted with probability above 1/2.
 * @param {bigint} modulus
 * @returns {bigint}
 */
export function randomBelow(modulus) {
  const bits = modulus.toString(2).length;
  const bytes = Math.ceil(bits / 8);
  const excess = BigInt(bytes * 8 - bits);
  for (;;) {
    const draw = BigInt(`0x${randomBytes(bytes).toString('hex')}`) >> excess;
    if (draw < modulus) return draw;
  }
}

/**
 * (a mod m), always in [0, m), also for negative a.
 * @param {bigint} a
 * @param {bigint} m
 */
export function mod(a, m) {
  return ((a % m) + m) % m;
}

/**
 * Splits `value` into `count` additive shares modulo `modulus`: the first `count - 1` uniform
 * and independent, the last `value - Σ others mod M`. Any `count - 1` of them are uniform and
 * independent of `value`; all `count` sum to it.
 * @param {bigint} value in [0, modulus)
 * @param {number} count at least 2
 * @param {bigint} modulus
 * @returns {bigint[]}
 */
export function splitIntoShares(value, count, modulus) {
  if (!Number.isInteger(count) || count < 2) throw new TypeError('splitIntoShares: count must be an integer of at least 2.');
  const shares = [];
  let drawn = 0n;
  for (let i = 0; i < count - 1; i++) {
    const share = randomBelow(modulus);
    shares.push(share);
    drawn += share;
  }
  shares.push(mod(value - drawn, modulus));
  return shares;
}

/**
 * Σ values mod M.
 * @param {bigint[]} values
 * @param {bigint} modulus
 */
export function sumMod(values, modulus) {
  return mod(values.reduce((a, b) => a + b, 0n), modulus);
}
