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
 * Args: { role: 'share' | 'sum' | 'combine', modulus (decimal string), aggregator, and one of
 *   dataset — the scalar count in /data/<dataset>/count; messages `{ share: "<residue>" }`,
 *             `{ partial: "<residue>" }`, output `{ total }`;
 *   source  — `{ volume: '<file>' }`, the `{ layout, values }` an analysis step left in the run
 *             volume; the protocol runs element-wise on the vector, messages carry lists of
 *             residues (`{ share: [...] }`, `{ partial: [...] }`, all as long as every site's
 *             vector), output `{ totals, layout }` with the layout from the aggregator's own file;
 *   privacy? — `{ epsilon, delta, unitVariance }`: differential privacy (#parley/dp-noise). Share
 *             puts this site's share of Skellam noise on its own values before splitting them
 *             (drawn once per run, kept in the run volume); combine adds `privacy: { mechanism:
 *             'skellam', epsilon, delta, variances }` to the output, the variance of the total's
 *             noise per coordinate. Without it, nothing changes }.
 * Never logs a count, a share, a partial or the total: failure messages describe the problem,
 * not the value.
 */
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { args, fail, org, output, participants, readInputs, send, volumePath } from '#parley';
import { parseModulus } from '#parley/modular';
import { addVectors, decodeValues, encodeValues, formatKeptVector, isVectorRun, parseKeptVector, readOwnValues, readValuesFile, splitVectorIntoShares, vectorToStrings } from '#parley/values';
import { privacyReport, readNoisyOwnValues, readPrivacyArgs } from '#parley/dp-noise';
import { COUNT_LAYOUT } from '#parley/privacy';

const OWN_SHARE_FILE = join(volumePath, 'additive-own-share');
const OWN_PARTIAL_FILE = join(volumePath, 'additive-own-partial');
const ROLES = ['share', 'sum', 'combine'];


/** Writes a residue vector to the run volume, readable by the sandbox user only. */
function keep(file, vector) {
  writeFileSync(file, formatKeptVector(vector), { mode: 0o600 });
  chmodSync(file, 0o600);
}

/** A vector this site kept in an earlier step; fails naming that step when it is missing or corrupt. */
function kept(file, what, earlierRole, modulus) {
  let text;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return fail(`This site's own ${what} is missing from the run volume: did it run the "${earlierRole}" step of this run?`);
  }
  const vector = parseKeptVector(text, modulus);
  if (vector === undefined) return fail(`This site's own ${what} in the run volume is corrupt.`);
  return vector;
}

/**
 * The n − 1 vectors the other participants sent, one from each, each as long as this site's
 * own: a missing, duplicate or unexpected sender fails the step (the sum would be wrong, or
 * someone counted twice), and so does a length mismatch (the sites computed different layouts).
 */
function readOnePerOther(field, expect) {
  const inputs = readInputs();
  const others = participants.filter((p) => p !== org);
  const seen = new Set();
  const vectors = [];
  for (const input of inputs) {
    if (!others.includes(input.from)) return fail(`An input comes from "${input.from}", which is not another participant of this run.`);
    if (seen.has(input.from)) return fail(`"${input.from}" sent this step more than one ${field}.`);
    seen.add(input.from);
    vectors.push(decodeValues(input.content?.[field], { ...expect, what: field, from: input.from }));
  }
  const missing = others.filter((p) => !seen.has(p));
  if (missing.length > 0) return fail(`This step expects one ${field} from each other participant; none came from ${missing.map((p) => `"${p}"`).join(', ')}.`);
  return vectors;
}

async function main() {
  const { role, aggregator } = args;
  if (!ROLES.includes(role)) return fail(`args.role must be one of ${ROLES.join(', ')}.`);
  const modulus = parseModulus(args.modulus);
  if (modulus === undefined) return fail('args.modulus must be a decimal integer of at least 2.');
  if (participants.length < 3 || !participants.includes(org)) return fail('PARLEY_PARTICIPANTS must name at least 3 organisations, this one among them.');
  if (typeof aggregator !== 'string' || !participants.includes(aggregator)) return fail('args.aggregator must name one of the participants.');
  const asVector = isVectorRun(args);
  const privacy = readPrivacyArgs(args);

  if (role === 'share') {
    const own = privacy ? readNoisyOwnValues(args, modulus, privacy) : readOwnValues(args, modulus);
    const others = participants.filter((p) => p !== org);
    const shares = splitVectorIntoShares(own, participants.length, modulus);
    // The last share is the one that depends on the values: it never leaves this site.
    keep(OWN_SHARE_FILE, shares[others.length]);
    for (let i = 0; i < others.length; i++) await send(others[i], { share: encodeValues(shares[i], asVector) });
    return;
  }
  if (role === 'sum') {
    const own = kept(OWN_SHARE_FILE, 'share', 'share', modulus);
    const received = readOnePerOther('share', { asVector, modulus, length: own.length });
    const partial = addVectors([own, ...received], modulus);
    // The own share stays in the run volume until the run ends (the site removes the volume):
    // a retried sum step must find it, and give the very same partial.
    if (org === aggregator) keep(OWN_PARTIAL_FILE, partial);
    else await send(aggregator, { partial: encodeValues(partial, asVector) });
    return;
  }
  // combine
  if (org !== aggregator) return fail(`Only the aggregator ("${aggregator}") combines the partial sums.`);
  const own = kept(OWN_PARTIAL_FILE, 'partial sum', 'sum', modulus);
  const partials = readOnePerOther('partial', { asVector, modulus, length: own.length });
  const total = addVectors([own, ...partials], modulus);
  const layout = asVector ? readValuesFile(args.source.volume, modulus).layout : COUNT_LAYOUT;
  const noise = privacy ? { privacy: privacyReport(layout, privacy) } : {};
  if (asVector) await output({ totals: vectorToStrings(total), layout, ...noise });
  else await output({ total: total[0].toString(), ...noise });
  // The own partial goes with the run volume at the run's end, so a retried combine gives the same total.
}

main().catch((err) => fail(`additive-sum failed: ${err instanceof Error ? err.message : 'unknown error'}`));
