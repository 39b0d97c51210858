/**
 * Arithmetic modulo a public modulus M for the ring secure sum: parsing values without echoing
 * them, and drawing a uniform mask.
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
 * modulo M instead would favour small values, and a biased mask leaks about the sum it hides.
 * Each draw is accepted with probability above 1/2.
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
