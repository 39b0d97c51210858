/**
 * Reads the count an example dataset holds (`/data/<dataset>/count`, one decimal integer) for
 * the secure-sum algorithms (`#parley/count` in every image). Fails the step with a message that
 * names the problem, never the value.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { dataPath, fail } from '#parley';
import { parseResidue } from '#parley/modular';

/**
 * @param {string} dataset
 * @param {bigint} modulus
 * @returns {bigint} the count, in [0, modulus)
 */
export function readCount(dataset, modulus) {
  let text;
  try {
    text = readFileSync(join(dataPath(dataset), 'count'), 'utf8');
  } catch {
    return fail(`Dataset "${dataset}" has no readable count file (expected /data/${dataset}/count).`);
  }
  const count = parseResidue(text, modulus);
  if (count === undefined) {
    return fail(`Dataset "${dataset}": the count is not a non-negative integer below the modulus. Check the count file (one decimal integer).`);
  }
  return count;
}
