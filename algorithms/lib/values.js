/**
 * Vectors of values for the secure-sum algorithms (`#parley/values` in every image): reading the
 * `{ layout, values }` file an analysis step left in the run volume, mapping signed integers to
 * residues modulo the public modulus M, and element-wise arithmetic on residue vectors.
 *
 * Signed values: v ≥ 0 is the residue v, v < 0 the residue M + v. That is only decodable if
 * |v| < M/2 (the decoder reads residues above M/2 as negative), and the *total* must obey the
 * same bound, so the modulus must leave room for every site's values summed.
 */
import { fail, readVolumeJson } from '#parley';
import { readCount } from '#parley/count';
import { mod, parseResidue, splitIntoShares } from '#parley/modular';

const SIGNED_DECIMAL = /^-?[0-9]+$/;
/** More values than any statistics layout needs; a bound keeps a corrupt file from costing much. */
export const MAX_VECTOR_LENGTH = 10_000;

/**
 * Reads `{ layout, values }` from the run-volume file `name` and maps each value (a decimal
 * integer string, possibly negative) to its residue modulo `modulus`. Fails the step, naming the
 * file and the problem but never a value, when the file is missing, malformed, or a value's
 * magnitude is not below M/2.
 * @param {string} name
 * @param {bigint} modulus
 * @returns {{ layout: unknown, residues: bigint[] }}
 */
export function readValuesFile(name, modulus) {
  const content = readVolumeJson(name);
  if (content === undefined) {
    return fail(`There is no ${name} in the run volume: run the analysis step that writes it first (args.source.volume names it).`);
  }
  if (typeof content !== 'object' || content === null || !Array.isArray(content.values) || typeof content.layout !== 'object' || content.layout === null) {
    return fail(`${name} in the run volume is not { layout, values }: values must be a list of decimal integer strings and layout an object.`);
  }
  const { values, layout } = content;
  if (values.length === 0 || values.length > MAX_VECTOR_LENGTH) return fail(`${name} must hold between 1 and ${MAX_VECTOR_LENGTH} values.`);
  const half = modulus / 2n;
  const digits = modulus.toString().length;
  const residues = values.map((text, i) => {
    // Bounded length first: a huge string is as invalid as a huge number, without parsing it.
    if (typeof text !== 'string' || !SIGNED_DECIMAL.test(text) || text.length > digits + 1) {
      return fail(`Value ${i} in ${name} is not a decimal integer string below the modulus in magnitude.`);
    }
    const value = BigInt(text);
    if ((value < 0n ? -value : value) >= half) {
      return fail(`Value ${i} in ${name} is too large in magnitude for the modulus: each value (and each total) must be below M/2 to decode. Use a larger modulus, or fewer decimals.`);
    }
    return mod(value, modulus);
  });
  return { layout, residues };
}

/**
 * Parses a list of residues (decimal strings in [0, modulus)) of exactly `length` elements.
 * Returns undefined for anything else, so callers fail with a message that names the sender and
 * the problem, not the values.
 * @param {unknown} list
 * @param {bigint} modulus
 * @returns {bigint[] | undefined}
 */
export function parseResidueVector(list, modulus) {
  if (!Array.isArray(list) || list.length === 0 || list.length > MAX_VECTOR_LENGTH) return undefined;
  const digits = modulus.toString().length;
  const parsed = [];
  for (const text of list) {
    if (typeof text !== 'string' || !/^[0-9]+$/.test(text) || text.length > digits) return undefined;
    const value = BigInt(text);
    if (value >= modulus) return undefined;
    parsed.push(value);
  }
  return parsed;
}

/**
 * Element-wise Σ of equally long residue vectors, modulo `modulus`. TypeError on a length
 * mismatch (callers check lengths first, to fail with a message about who sent what).
 * @param {bigint[][]} vectors at least one
 * @param {bigint} modulus
 * @returns {bigint[]}
 */
export function addVectors(vectors, modulus) {
  const [first, ...rest] = vectors;
  if (!first) throw new TypeError('addVectors needs at least one vector.');
  const total = [...first];
  for (const v of rest) {
    if (v.length !== total.length) throw new TypeError('addVectors: the vectors differ in length.');
    for (let i = 0; i < total.length; i++) total[i] += v[i];
  }
  return total.map((x) => mod(x, modulus));
}

/**
 * Splits each element of `values` into `count` additive shares (splitIntoShares, element by
 * element). Returns one vector per share holder: share vector j holds share j of every element.
 * @param {bigint[]} values residues
 * @param {number} count at least 2
 * @param {bigint} modulus
 * @returns {bigint[][]}
 */
export function splitVectorIntoShares(values, count, modulus) {
  const byHolder = Array.from({ length: count }, () => []);
  for (const value of values) {
    splitIntoShares(value, count, modulus).forEach((share, j) => byHolder[j].push(share));
  }
  return byHolder;
}

/**
 * Decimal strings of a residue vector, as messages and outputs carry them.
 * @param {bigint[]} vector
 * @returns {string[]}
 */
export function vectorToStrings(vector) {
  return vector.map((x) => x.toString());
}

/**
 * Writes a residue vector to a run-volume path (one decimal per line, 0600 via the caller) and
 * reads it back: the format of the secure-sum images' kept masks, shares and partials. A scalar
 * is a vector of one, so a scalar run's files are what they always were (one number and a newline).
 * @param {bigint[]} vector
 * @returns {string}
 */
export function formatKeptVector(vector) {
  return `${vector.join('\n')}\n`;
}

/**
 * Parses what formatKeptVector wrote; undefined when any line is not a residue.
 * @param {string} text
 * @param {bigint} modulus
 * @returns {bigint[] | undefined}
 */
export function parseKeptVector(text, modulus) {
  return parseResidueVector(text.trimEnd().split('\n'), modulus);
}

/**
 * Whether a secure-sum step works on a vector (`args.source = { volume }`) or on the scalar
 * count of a dataset (`args.dataset`); fails the step on both or neither, or a bad source.
 * @param {Record<string, unknown>} args
 * @returns {boolean} true for a vector
 */
export function isVectorRun(args) {
  const { dataset, source } = args;
  if (dataset !== undefined && source !== undefined) {
    return fail('Give args.dataset (a dataset holding a count) or args.source (a values file in the run volume), not both.');
  }
  if (source === undefined) return false;
  if (typeof source !== 'object' || source === null || typeof source.volume !== 'string') {
    return fail('args.source must be { "volume": "<file in the run volume>" }, e.g. { "volume": "statistics.json" } as the analysis step wrote it.');
  }
  return true;
}

/**
 * This site's own values: the residues of `args.source`'s values file, or its dataset's count as
 * a vector of one.
 * @param {Record<string, any>} args
 * @param {bigint} modulus
 * @returns {bigint[]}
 */
export function readOwnValues(args, modulus) {
  if (isVectorRun(args)) return readValuesFile(args.source.volume, modulus).residues;
  return [readCount(args.dataset, modulus)];
}

/**
 * A message field for `vector`: a list of decimal strings in a vector run, the one decimal string
 * of a scalar run (as the scalar protocol always sent it).
 * @param {bigint[]} vector
 * @param {boolean} asVector
 * @returns {string | string[]}
 */
export function encodeValues(vector, asVector) {
  return asVector ? vectorToStrings(vector) : vector[0].toString();
}

/**
 * Reads a message field written by encodeValues: a residue vector of exactly `length` elements.
 * Fails the step naming the sender and what is wrong (never a value): not residues, or a length
 * other than this site's, which means the sites computed different layouts.
 * @param {unknown} field
 * @param {{ asVector: boolean, modulus: bigint, length: number, what: string, from: string }} expect
 * @returns {bigint[]}
 */
export function decodeValues(field, { asVector, modulus, length, what, from }) {
  if (!asVector) {
    const value = parseResidue(field, modulus);
    if (value === undefined) return fail(`The ${what} from "${from}" is not a non-negative integer below the modulus.`);
    return [value];
  }
  const vector = parseResidueVector(field, modulus);
  if (vector === undefined) return fail(`The ${what} from "${from}" is not a list of non-negative integers below the modulus.`);
  if (vector.length !== length) {
    return fail(
      `The ${what} from "${from}" has ${vector.length} values but this site has ${length}: every site must produce the same layout ` +
        '(the same column, decimals and bins). Run the same analysis step everywhere.',
    );
  }
  return vector;
}
