/**
 * One step of the ring secure sum (DESIGN.md, "Workflows"). Sites are visited in a ring; the
 * initiator masks its count with a random R (uniform modulo the public modulus M), each next
 * site adds its own count modulo M, and the initiator, visited again, removes R. Every partial
 * a site sees is uniform modulo M, so no single site learns another's count.
 *
 * Args: { role: 'start' | 'add' | 'finish', dataset, modulus (decimal string), next? }.
 * Reads its count from /data/<dataset>/count (one decimal integer). Never logs a count, a
 * partial or the mask: failure messages describe the problem, not the value.
 */
import { readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { args, fail, output, readInputs, send, volumePath } from '#parley';
import { mod, parseModulus, parseResidue, randomBelow } from '#parley/modular';
import { readCount } from '#parley/count';

const MASK_FILE = join(volumePath, 'ring-mask');
const ROLES = ['start', 'add', 'finish'];


function readPartial(modulus) {
  const inputs = readInputs();
  if (inputs.length !== 1) return fail(`This step expects exactly one input (the running partial sum); it has ${inputs.length}.`);
  const [input] = inputs;
  const partial = parseResidue(input.content?.partial, modulus);
  if (partial === undefined) return fail(`The partial sum from ${input.from} is not a non-negative integer below the modulus.`);
  return partial;
}

async function main() {
  const { role, dataset, next } = args;
  if (!ROLES.includes(role)) return fail(`args.role must be one of ${ROLES.join(', ')}.`);
  const modulus = parseModulus(args.modulus);
  if (modulus === undefined) return fail('args.modulus must be a decimal integer of at least 2.');
  if (role !== 'finish' && (typeof next !== 'string' || next === '')) return fail(`args.next must name the next organisation in the ring for role "${role}".`);

  if (role === 'start') {
    const count = readCount(dataset, modulus);
    const mask = randomBelow(modulus);
    // The mask stays at this site, in the run volume, until this site finishes the ring.
    writeFileSync(MASK_FILE, `${mask}\n`, { mode: 0o600 });
    chmodSync(MASK_FILE, 0o600);
    await send(next, { partial: mod(count + mask, modulus).toString() });
    return;
  }
  if (role === 'add') {
    const count = readCount(dataset, modulus);
    const partial = readPartial(modulus);
    await send(next, { partial: mod(partial + count, modulus).toString() });
    return;
  }
  // finish: the initiator's count went in at start; only the mask comes off.
  const partial = readPartial(modulus);
  let maskText;
  try {
    maskText = readFileSync(MASK_FILE, 'utf8');
  } catch {
    return fail('The ring mask is missing from the run volume: did this site run the "start" step of this run?');
  }
  const mask = parseResidue(maskText, modulus);
  if (mask === undefined) return fail('The ring mask in the run volume is corrupt.');
  await output({ total: mod(partial - mask, modulus).toString() });
  rmSync(MASK_FILE, { force: true });
}

main().catch((err) => fail(`secure-sum failed: ${err instanceof Error ? err.message : 'unknown error'}`));
