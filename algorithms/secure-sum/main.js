/**
 * One step of the ring secure sum (DESIGN.md, "Workflows"). Sites are visited in a ring; the
 * initiator masks its value with a random R (uniform modulo the public modulus M), each next
 * site adds its own value modulo M, and the initiator, visited again, removes R. Every partial
 * a site sees is uniform modulo M, so no single site learns another's value.
 *
 * Args: { role: 'start' | 'add' | 'finish', modulus (decimal string), next?, and one of
 *   dataset — the scalar count in /data/<dataset>/count; messages `{ partial: "<residue>" }`,
 *             output `{ total }`;
 *   source  — `{ volume: '<file>' }`, the `{ layout, values }` an analysis step left in the run
 *             volume; the ring runs element-wise on the vector (one independent mask per
 *             element), messages `{ partial: ["<residue>", …] }`, output `{ totals, layout }`
 *             with the layout from the finishing site's own file;
 *   privacy? — `{ epsilon, delta, unitVariance }`: differential privacy (#parley/dp-noise). Start
 *             and add put this site's share of Skellam noise on its own values before they join
 *             the ring (drawn once per run, kept in the run volume); finish adds `privacy:
 *             { mechanism: 'skellam', epsilon, delta, variances }` to the output, the variance
 *             of the total's noise per coordinate. Without it, nothing changes }.
 * Never logs a count, a partial or the mask: failure messages describe the problem, not the value.
 */
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { args, fail, output, readInputs, send, volumePath } from '#parley';
import { parseModulus, randomBelow } from '#parley/modular';
import { addVectors, decodeValues, encodeValues, formatKeptVector, isVectorRun, parseKeptVector, readOwnValues, readValuesFile, vectorToStrings } from '#parley/values';
import { privacyReport, readNoisyOwnValues, readPrivacyArgs } from '#parley/dp-noise';
import { COUNT_LAYOUT } from '#parley/privacy';

const MASK_FILE = join(volumePath, 'ring-mask');
const ROLES = ['start', 'add', 'finish'];

/** The running partial sum: this step's one input, as long as `length` (this site's vector). */
function readPartial(modulus, asVector, length) {
  const inputs = readInputs();
  if (inputs.length !== 1) return fail(`This step expects exactly one input (the running partial sum); it has ${inputs.length}.`);
  const [input] = inputs;
  return decodeValues(input.content?.partial, { asVector, modulus, length, what: 'partial sum', from: input.from });
}

async function main() {
  const { role, next } = args;
  if (!ROLES.includes(role)) return fail(`args.role must be one of ${ROLES.join(', ')}.`);
  const modulus = parseModulus(args.modulus);
  if (modulus === undefined) return fail('args.modulus must be a decimal integer of at least 2.');
  if (role !== 'finish' && (typeof next !== 'string' || next === '')) return fail(`args.next must name the next organisation in the ring for role "${role}".`);
  const asVector = isVectorRun(args);
  const privacy = readPrivacyArgs(args);
  const readOwn = () => (privacy ? readNoisyOwnValues(args, modulus, privacy) : readOwnValues(args, modulus));

  if (role === 'start') {
    const own = readOwn();
    const mask = own.map(() => randomBelow(modulus));
    // The mask stays at this site, in the run volume, until this site finishes the ring.
    writeFileSync(MASK_FILE, formatKeptVector(mask), { mode: 0o600 });
    chmodSync(MASK_FILE, 0o600);
    await send(next, { partial: encodeValues(addVectors([own, mask], modulus), asVector) });
    return;
  }
  if (role === 'add') {
    const own = readOwn();
    const partial = readPartial(modulus, asVector, own.length);
    await send(next, { partial: encodeValues(addVectors([partial, own], modulus), asVector) });
    return;
  }
  // finish: the initiator's values went in at start; only the mask comes off.
  let maskText;
  try {
    maskText = readFileSync(MASK_FILE, 'utf8');
  } catch {
    return fail('The ring mask is missing from the run volume: did this site run the "start" step of this run?');
  }
  const mask = parseKeptVector(maskText, modulus);
  if (mask === undefined) return fail('The ring mask in the run volume is corrupt.');
  const partial = readPartial(modulus, asVector, mask.length);
  const total = addVectors([partial, mask.map((m) => modulus - m)], modulus);
  const layout = asVector ? readValuesFile(args.source.volume, modulus).layout : COUNT_LAYOUT;
  const noise = privacy ? { privacy: privacyReport(layout, privacy) } : {};
  if (asVector) await output({ totals: vectorToStrings(total), layout, ...noise });
  else await output({ total: total[0].toString(), ...noise });
  // The mask goes with the run volume, which the site removes as the finish step ends: a
  // retried finish (the site lost its worker mid-step, say) must still find it.
}

main().catch((err) => fail(`secure-sum failed: ${err instanceof Error ? err.message : 'unknown error'}`));
