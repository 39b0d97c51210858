/**
 * Canonical JSON for digests and signatures over envelopes: object members sorted by name,
 * members set to undefined left out, no whitespace. Two spellings of the same JSON value (member
 * order, as a relay may change it) give the same text; any change of a value gives another.
 */

/**
 * The canonical text of a JSON value.
 * @throws TypeError for a value JSON cannot hold (a non-finite number, a function, a bigint…).
 */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const members = Object.keys(value)
      .filter((name) => (value as Record<string, unknown>)[name] !== undefined)
      .sort()
      .map((name) => `${JSON.stringify(name)}:${canonicalJson((value as Record<string, unknown>)[name])}`);
    return `{${members.join(',')}}`;
  }
  if (typeof value === 'number' && !Number.isFinite(value)) throw new TypeError('canonicalJson: finite numbers only');
  if (value === undefined || typeof value === 'function' || typeof value === 'bigint' || typeof value === 'symbol') {
    throw new TypeError('canonicalJson: JSON values only');
  }
  return JSON.stringify(value);
}
