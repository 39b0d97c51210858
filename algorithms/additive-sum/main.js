/**
 * One step of the secure sum by additive shares (DESIGN.md, "Workflows"; the protocol and why it
 * is private are in workflows/secure-sum-additive.ts). With n participants and a public modulus M:
 *
 * - share:   split this site's count v into n shares modulo M, n − 1 of them uniform; keep the
 *            last (v − Σ others) in the run volume, send one of the others to each participant.
 * - sum:     add the n − 1 shares received to the kept one; send that partial to the aggregator,
 *            or, at the aggregator itself, keep it in the run volume (no message to oneself).
 * - combine: at the aggregator, add the n − 1 partials received to its own; output the total,
 *            which the site seals for the requester.
 *
 * Args: { role: 'share' | 'sum' | 'combine', dataset, modulus (decimal string), aggregator }.
 * Reads its count from /data/<dataset>/count (one decimal integer). Never logs a count, a share,
 * a partial or the total: failure messages describe the problem, not the value.
 */
import { chmodSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { args, fail, org, output, participants, readInputs, send, volumePath } from '#parley';
import { parseModulus, parseResidue, splitIntoShares, sumMod } from '#parley/modular';
import { readCount } from '#parley/count';

const OWN_SHARE_FILE = join(volumePath, 'additive-own-share');
const OWN_PARTIAL_FILE = join(volumePath, 'additive-own-partial');
const ROLES = ['share', 'sum', 'combine'];


/** Writes a residue to the run volume, readable by the sandbox user only. */
function keep(file, value) {
  writeFileSync(file, `${value}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
}

function kept(file, what, earlierRole) {
  let text;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return fail(`This site's own ${what} is missing from the run volume: did it run the "${earlierRole}" step of this run?`);
  }
  return text;
}

/**
 * The n − 1 values the other participants sent, one from each: a missing, duplicate or
 * unexpected sender fails the step (the sum would be wrong, or someone counted twice).
 */
function readOnePerOther(field, modulus) {
  const inputs = readInputs();
  const others = participants.filter((p) => p !== org);
  const seen = new Set();
  const values = [];
  for (const input of inputs) {
    if (!others.includes(input.from)) return fail(`An input comes from "${input.from}", which is not another participant of this run.`);
    if (seen.has(input.from)) return fail(`"${input.from}" sent this step more than one ${field}.`);
    seen.add(input.from);
    const value = parseResidue(input.content?.[field], modulus);
    if (value === undefined) return fail(`The ${field} from "${input.from}" is not a non-negative integer below the modulus.`);
    values.push(value);
  }
  const missing = others.filter((p) => !seen.has(p));
  if (missing.length > 0) return fail(`This step expects one ${field} from each other participant; none came from ${missing.map((p) => `"${p}"`).join(', ')}.`);
  return values;
}

async function main() {
  const { role, dataset, aggregator } = args;
  if (!ROLES.includes(role)) return fail(`args.role must be one of ${ROLES.join(', ')}.`);
  const modulus = parseModulus(args.modulus);
  if (modulus === undefined) return fail('args.modulus must be a decimal integer of at least 2.');
  if (participants.length < 3 || !participants.includes(org)) return fail('PARLEY_PARTICIPANTS must name at least 3 organisations, this one among them.');
  if (typeof aggregator !== 'string' || !participants.includes(aggregator)) return fail('args.aggregator must name one of the participants.');

  if (role === 'share') {
    const count = readCount(dataset, modulus);
    const others = participants.filter((p) => p !== org);
    const shares = splitIntoShares(count, participants.length, modulus);
    // The last share is the one that depends on the count: it never leaves this site.
    keep(OWN_SHARE_FILE, shares[others.length]);
    for (let i = 0; i < others.length; i++) await send(others[i], { share: shares[i].toString() });
    return;
  }
  if (role === 'sum') {
    const received = readOnePerOther('share', modulus);
    const own = parseResidue(kept(OWN_SHARE_FILE, 'share', 'share'), modulus);
    if (own === undefined) return fail('This site\'s own share in the run volume is corrupt.');
    const partial = sumMod([own, ...received], modulus);
    rmSync(OWN_SHARE_FILE, { force: true });
    if (org === aggregator) keep(OWN_PARTIAL_FILE, partial);
    else await send(aggregator, { partial: partial.toString() });
    return;
  }
  // combine
  if (org !== aggregator) return fail(`Only the aggregator ("${aggregator}") combines the partial sums.`);
  const partials = readOnePerOther('partial', modulus);
  const own = parseResidue(kept(OWN_PARTIAL_FILE, 'partial sum', 'sum'), modulus);
  if (own === undefined) return fail('This site\'s own partial sum in the run volume is corrupt.');
  await output({ total: sumMod([own, ...partials], modulus).toString() });
  rmSync(OWN_PARTIAL_FILE, { force: true });
}

main().catch((err) => fail(`additive-sum failed: ${err instanceof Error ? err.message : 'unknown error'}`));
