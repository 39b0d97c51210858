/**
 * A secure-sum site's own differential-privacy noise (`#parley/dp-noise` in the protocol images):
 * when the step's args carry `privacy: { epsilon, delta, unitVariance }`, the site checks its own
 * values against their declared bounds, draws its share of the Skellam noise once, keeps it in
 * the run volume, and adds it to its values before they enter the secure sum. No party ever sees
 * this site's values, or the total, without noise (Agarwal, Kairouz, Liu 2021, arXiv:2110.04995).
 *
 * One draw per release and site: the noise is kept in `dp-noise.<step>` (0600, created
 * exclusively), and a retried step adds the very same noise. Drawing again on a retry would release two independent
 * noisy copies of the same values whenever both attempts' messages got out, and averaging copies
 * is how noise is removed.
 */
import { randomBytes } from 'node:crypto';
import { linkSync, rmSync, writeFileSync } from 'node:fs';
import { fail, participants, readVolumeJson, step, volumeFile } from '#parley';
import { readCount } from '#parley/count';
import { mod } from '#parley/modular';
import { COUNT_LAYOUT, NoisePlanError, checkAgainstBounds, noiseVariances, siteNoise } from '#parley/privacy';
import { cryptoRandom } from '#parley/skellam';
import { isVectorRun, readValuesFile } from '#parley/values';

/** Per step (a secure sum's one step that noises this site's values): a retry finds it, another release does not. */
const NOISE_FILE = `dp-noise.${step}`;
const SIGNED_DECIMAL = /^-?[0-9]+$/;

/**
 * The step's `args.privacy`, or undefined when the step asks for none. Fails the step when it is
 * there but malformed (the site checked it against the manifest; this guards the image's own use).
 * @param {Record<string, any>} args
 * @returns {{ epsilon: number, delta: number, unitVariance: number } | undefined}
 */
export function readPrivacyArgs(args) {
  const { privacy } = args;
  if (privacy === undefined) return undefined;
  const positive = (x) => typeof x === 'number' && Number.isFinite(x) && x > 0;
  if (typeof privacy !== 'object' || privacy === null || !positive(privacy.epsilon) || !positive(privacy.delta) || !(privacy.delta < 1) || !positive(privacy.unitVariance)) {
    return fail('args.privacy must be { epsilon > 0, delta in (0, 1), unitVariance > 0 }: the site worker sets unitVariance to calibrateSkellam(epsilon, delta).');
  }
  return { epsilon: privacy.epsilon, delta: privacy.delta, unitVariance: privacy.unitVariance };
}

/**
 * This site's own values as residues, with their layout: the `args.source` values file's, or the
 * dataset's count with COUNT_LAYOUT.
 * @param {Record<string, any>} args
 * @param {bigint} modulus
 * @returns {{ residues: bigint[], layout: unknown }}
 */
export function readOwnValuesWithLayout(args, modulus) {
  if (isVectorRun(args)) return readValuesFile(args.source.volume, modulus);
  return { residues: [readCount(args.dataset, modulus)], layout: COUNT_LAYOUT };
}

/** Runs a noise-plan function, failing the step with its own message when it refuses. */
function planned(work) {
  try {
    return work();
  } catch (err) {
    if (err instanceof NoisePlanError || err instanceof RangeError) return fail(err.message);
    throw err;
  }
}

/**
 * The noise this site kept for this run, or a fresh draw kept first. The file binds the noise to
 * the step and the variances it was drawn for: another step of the run, or another plan, never
 * reuses it (adding one draw to two different releases would let their difference cancel it).
 * @param {number[]} variances
 * @returns {bigint[]}
 */
function keptOrDrawnNoise(variances) {
  const plan = { step, sites: participants.length, variances: variances.map(String) };
  const kept = readVolumeJson(NOISE_FILE);
  if (kept === undefined) {
    const noise = planned(() => siteNoise(variances, participants.length, cryptoRandom));
    const path = volumeFile(NOISE_FILE);
    // A random name: the container's pid is the same on every attempt, and a crashed one may have left its file.
    const temporary = `${path}.${randomBytes(8).toString('hex')}.tmp`;
    writeFileSync(temporary, `${JSON.stringify({ ...plan, noise: noise.map(String) })}\n`, { mode: 0o600, flag: 'wx' });
    try {
      // link() creates the name exclusively and with its whole content at once: a concurrent or
      // crashed attempt can neither leave half a file nor replace noise already kept.
      linkSync(temporary, path);
    } catch (err) {
      if (!(err && err.code === 'EEXIST')) throw err;
      return keptOrDrawnNoise(variances);
    } finally {
      rmSync(temporary, { force: true });
    }
    return noise;
  }
  if (typeof kept !== 'object' || kept === null || !Array.isArray(kept.noise) || !Array.isArray(kept.variances)) {
    return fail(`${NOISE_FILE} in the run volume is not the noise this site kept: the run volume is corrupt; start a new run.`);
  }
  if (kept.step !== plan.step || kept.sites !== plan.sites || JSON.stringify(kept.variances) !== JSON.stringify(plan.variances)) {
    return fail(
      `This site already drew noise for step "${step}" of this run under another noise plan (${NOISE_FILE} in the run volume): ` +
        'the run volume does not belong to this run\'s signed plan. Start a new run.',
    );
  }
  if (kept.noise.length !== variances.length || !kept.noise.every((n) => typeof n === 'string' && SIGNED_DECIMAL.test(n))) {
    return fail(`${NOISE_FILE} in the run volume is corrupt: start a new run.`);
  }
  return kept.noise.map((n) => BigInt(n));
}

/**
 * Adds this site's share of the noise to its own values (residues modulo `modulus`, signed noise
 * as values.js maps signed values): checks the values against the layout's bounds first, then
 * draws (or reuses the kept) Sk(μ_j / n) per coordinate, n the participants. Fails the step, never
 * naming a value, when the layout has no bounds or the values break them.
 * @param {bigint[]} residues
 * @param {unknown} layout
 * @param {{ unitVariance: number }} privacy
 * @param {bigint} modulus
 * @returns {bigint[]}
 */
export function addOwnNoise(residues, layout, privacy, modulus) {
  const half = modulus / 2n;
  // readValuesFile and readCount keep |v| < M/2, so the residue maps back to v exactly.
  const signed = residues.map((r) => (r > half ? r - modulus : r));
  planned(() => checkAgainstBounds(signed, layout));
  const variances = planned(() => noiseVariances(layout, privacy.unitVariance));
  // Noise that wraps around the modulus decodes as garbage. Whether the values fit is the
  // modulus check's job; this one only needs public numbers: 20 standard deviations of the
  // total noise, which it passes with probability below 10^-80, must stay below M/2.
  if (variances.some((mu) => BigInt(Math.ceil(20 * Math.sqrt(mu))) >= modulus / 2n)) {
    return fail('The modulus is too small for the noise this release carries: it must exceed 40 standard deviations of the total noise, and the totals besides. Use a larger modulus, or fewer decimals or tighter bounds.');
  }
  const noise = keptOrDrawnNoise(variances);
  return residues.map((r, i) => mod(r + noise[i], modulus));
}

/**
 * This site's own values with its share of the noise added: readOwnValuesWithLayout, then addOwnNoise.
 * @param {Record<string, any>} args
 * @param {bigint} modulus
 * @param {{ unitVariance: number }} privacy
 * @returns {bigint[]}
 */
export function readNoisyOwnValues(args, modulus, privacy) {
  const { residues, layout } = readOwnValuesWithLayout(args, modulus);
  return addOwnNoise(residues, layout, privacy, modulus);
}

/**
 * What the finishing output says of the noise: the mechanism, the (ε, δ) asked for and the
 * variance of the total noise per coordinate, as decimal strings (the researcher's intervals
 * come from them).
 * @param {unknown} layout
 * @param {{ epsilon: number, delta: number, unitVariance: number }} privacy
 * @returns {{ mechanism: 'skellam', epsilon: number, delta: number, variances: string[] }}
 */
export function privacyReport(layout, privacy) {
  const variances = planned(() => noiseVariances(layout, privacy.unitVariance));
  return { mechanism: 'skellam', epsilon: privacy.epsilon, delta: privacy.delta, variances: variances.map(String) };
}
