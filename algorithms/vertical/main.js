/**
 * One step of a vertical analysis over linked rows (common/vertical.ts has the plan and why it is
 * private). Every figure is a sum of products of matrices held at two sites, each computed with a
 * commodity server, the dealer, that holds neither (Du & Atallah, ACSAC 2001; Beaver, CRYPTO
 * 1991; Dowsley et al., ePrint 2010/289), modulo the public M:
 *
 *   dealer D: seeds sA, sB; Ra, ra from sA, Rb from sB; rb = RaᵀRb − ra (or Ra∘Rb − ra).
 *             Sends sA to A, (sB, rb) to B.
 *   A sends A' = A + Ra to B; B sends B' = B + Rb to A (each uniform: a one-time pad mod M).
 *   A's share: ra − RaᵀB';  B's share: A'ᵀB + rb;  together AᵀB.
 *
 * Args: { role: 'deal' | 'mask' | 'share' | 'release', index (the step's k), linked (the link
 * step's id: `<linked>.rows.csv` and `<linked>.json` in the run volume), modulus, plan }.
 * State between steps stays in the run volume (`<step>.vertical.state.json`, 0600). Never logs a
 * value: failures name the row and column, not what is in it.
 */
import { createCipheriv, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { args, fail, org, output, readInputs, readVolumeJson, send, step, volumeFile, writeVolumeJson } from '#parley';
import { parseModulus } from '#parley/modular';

const ROLES = ['deal', 'mask', 'share', 'release'];
const { role, plan, linked } = args;
const M = parseModulus(args.modulus);
const chainStep = step.split('.vertical.')[0];
const STATE = `${chainStep}.vertical.state.json`;

const mod = (x) => ((x % M) + M) % M;

/** `count` values uniform mod M from a seed: AES-256-CTR keystream, 8 bytes more than M needs per value. */
function expand(seedHex, label, count) {
  const width = Math.ceil(M.toString(16).length / 2) + 8;
  const iv = Buffer.alloc(16);
  iv.write(label.padEnd(16, '\0').slice(0, 16), 'latin1');
  const cipher = createCipheriv('aes-256-ctr', Buffer.from(seedHex, 'hex'), iv);
  const stream = cipher.update(Buffer.alloc(width * count));
  const out = new Array(count);
  for (let i = 0; i < count; i++) out[i] = BigInt(`0x${stream.toString('hex', i * width, (i + 1) * width)}`) % M;
  return out;
}

/** Bytes per residue in a packed vector: as few as M − 1 needs. */
const WIDTH = Math.ceil((M - 1n).toString(16).length / 2);

/**
 * A vector of residues packed as fixed-width big-endian bytes, base64: a masked 10,000 × 5
 * matrix is then 400 KB, not the ~1 MB of decimal strings, which keeps a step's envelopes under
 * Temporal's payload limits.
 */
function strings(xs) {
  const buffer = Buffer.alloc(WIDTH * xs.length);
  xs.forEach((x, i) => {
    if (WIDTH === 8) buffer.writeBigUInt64BE(x, i * 8);
    else buffer.write(x.toString(16).padStart(WIDTH * 2, '0'), i * WIDTH, WIDTH, 'hex');
  });
  return buffer.toString('base64');
}
function residues(packed, length, what) {
  const buffer = typeof packed === 'string' ? Buffer.from(packed, 'base64') : Buffer.alloc(0);
  if (buffer.length !== WIDTH * length) return fail(`${what} is not ${length} packed residues: the sites' linked rows or plans differ.`);
  const out = new Array(length);
  for (let i = 0; i < length; i++) {
    const v = WIDTH === 8 ? buffer.readBigUInt64BE(i * 8) : BigInt(`0x${buffer.toString('hex', i * WIDTH, (i + 1) * WIDTH)}`);
    if (v >= M) return fail(`${what} holds a residue outside the modulus.`);
    out[i] = v;
  }
  return out;
}
/** The plain list of decimal residues the release's output carries (the worker checks it). */
const decimals = (xs) => xs.map((x) => x.toString());

/** The linked rows' size and this site's columns (`<linked>.rows.csv`, header first). */
function linkedRows() {
  const meta = readVolumeJson(`${linked}.json`);
  if (!meta || !Number.isInteger(meta.rows)) return fail(`${linked}.json is missing from the run volume: run the link step "${linked}" at this site first.`);
  return meta;
}

function readRows(n) {
  let text;
  try {
    text = readFileSync(volumeFile(`${linked}.rows.csv`), 'utf8');
  } catch {
    return fail(`${linked}.rows.csv is missing from the run volume: run the link step "${linked}" at this site first.`);
  }
  const lines = text.split(/\r?\n/).filter((l) => l !== '');
  const header = lines[0].split(',').map((h) => h.trim());
  const rows = lines.slice(1).map((l) => l.split(',').map((c) => c.trim()));
  if (rows.length !== n) return fail(`${linked}.rows.csv holds ${rows.length} rows and ${linked}.json says ${n}.`);
  return { header, rows };
}

/** A decimal cell as an integer × 10^decimals, rounded half away from zero; undefined if not a number. */
function fixed(cell, decimals) {
  const m = /^(-?)([0-9]{1,15})(?:\.([0-9]{1,15}))?$/.exec(cell);
  if (!m) return undefined;
  const frac = (m[3] ?? '').padEnd(decimals + 1, '0');
  let v = BigInt(m[2] + frac.slice(0, decimals));
  if (Number(frac[decimals]) >= 5) v += 1n;
  return m[1] === '-' ? -v : v;
}

/** This site's derived columns, n × k, row-major (the plan's terms for this site). */
function termMatrix(terms, n) {
  const { header, rows } = readRows(n);
  const index = (column) => {
    const i = header.indexOf(column);
    if (i < 0) return fail(`Column "${column}" is not in ${linked}.rows.csv at site "${org}".`);
    return i;
  };
  const compiled = terms.map((t) => ({ ...t, factors: t.factors.map((f) => ({ ...f, at: index(f.column) })) }));
  const k = terms.length;
  const out = new Array(n * k);
  rows.forEach((row, r) => {
    compiled.forEach((t, j) => {
      let v = 10n ** BigInt(t.shift);
      for (const f of t.factors) {
        const cell = row[f.at] ?? '';
        if ('equals' in f) { if (cell !== f.equals) v = 0n; } else if ('power' in f) {
          const x = fixed(cell, f.decimals);
          if (x === undefined) fail(`Row ${r + 1} of ${linked}.rows.csv has no number in column "${f.column}".`);
          v *= x ** BigInt(f.power);
        } else {
          const x = Number(cell);
          if (cell === '' || !Number.isFinite(x)) fail(`Row ${r + 1} of ${linked}.rows.csv has no number in column "${f.column}".`);
          if ((f.atLeast !== undefined && x < f.atLeast) || (f.atMost !== undefined && x > f.atMost)) v = 0n;
        }
      }
      out[r * k + j] = mod(v);
    });
  });
  return out;
}

/** Width of a matrix: a site's terms, or an elementwise product's share (as wide as its a). */
function width(site, matrix) {
  if (matrix === 'terms') return plan.terms[site].length;
  const p = plan.products.find((x) => x.id === matrix);
  return width(p.a, p.aMatrix);
}
/** Shape of a product's result. */
const resultSize = (p, n) => (p.kind === 'elementwise' ? n * width(p.a, p.aMatrix) : width(p.a, p.aMatrix) * width(p.b, p.bMatrix));

/** Xᵀ Y for X n×p, Y n×q (row-major), mod M. */
function innerProduct(x, p, y, q, n) {
  const out = new Array(p * q).fill(0n);
  for (let r = 0; r < n; r++) {
    for (let i = 0; i < p; i++) {
      const xi = x[r * p + i];
      if (xi === 0n) continue;
      for (let j = 0; j < q; j++) out[i * q + j] += xi * y[r * q + j];
    }
  }
  return out.map(mod);
}
const elementwise = (x, y) => x.map((v, i) => (v * y[i]) % M);
const multiply = (p, x, y, n) => (p.kind === 'elementwise' ? elementwise(x, y) : innerProduct(x, width(p.a, p.aMatrix), y, width(p.b, p.bMatrix), n));
const add = (x, y) => x.map((v, i) => (v + y[i]) % M);
const negate = (x) => x.map((v) => (M - v) % M);

function readState() { return readVolumeJson(STATE) ?? { deals: {}, results: {} }; }

/** This site's matrix `name`: its terms, or a share an earlier elementwise product left here. */
function matrixOf(state, name, n) {
  if (name === 'terms') return termMatrix(plan.terms[org], n);
  const kept = state.results[name];
  if (!kept) return fail(`The share of product "${name}" is missing from the run volume: did this site run the earlier round?`);
  return residues(kept, resultSize(plan.products.find((x) => x.id === name), n), `The share of product "${name}"`);
}

async function deal(n) {
  const mine = plan.products.filter((p) => p.dealer === org);
  const to = new Map();
  const put = (site, id, content) => { if (!to.has(site)) to.set(site, {}); to.get(site)[id] = content; };
  for (const p of mine) {
    const seedA = randomBytes(32).toString('hex');
    const seedB = randomBytes(32).toString('hex');
    const ra = expand(seedA, 'share', resultSize(p, n));
    const Ra = expand(seedA, 'mask', n * width(p.a, p.aMatrix));
    const Rb = expand(seedB, 'mask', n * width(p.b, p.bMatrix));
    const rb = add(multiply(p, Ra, Rb, n), negate(ra));
    put(p.a, p.id, { seed: seedA });
    put(p.b, p.id, { seed: seedB, correction: strings(rb) });
  }
  for (const [site, products] of to) await send(site, { products });
}

/** Finishes this site's side of round `round` from the partners' masked matrices. */
function finishRound(state, inputs, round, n) {
  const masks = new Map(inputs.filter((i) => i.step.endsWith('.mask')).map((i) => [i.from, i.content?.products ?? {}]));
  for (const p of plan.products.filter((x) => x.round === round && (x.a === org || x.b === org))) {
    if (p.kind === 'local') {
      state.results[p.id] = strings(multiply(p, matrixOf(state, p.aMatrix, n), matrixOf(state, p.bMatrix, n), n));
      continue;
    }
    const deal = state.deals[p.id];
    if (!deal) fail(`No dealer's randomness for product "${p.id}" reached site "${org}".`);
    const size = resultSize(p, n);
    if (p.a === org) {
      const partner = residues(masks.get(p.b)?.[p.id], n * width(p.b, p.bMatrix), `The masked matrix of product "${p.id}" from "${p.b}"`);
      const Ra = expand(deal.seed, 'mask', n * width(p.a, p.aMatrix));
      state.results[p.id] = strings(add(expand(deal.seed, 'share', size), negate(multiply(p, Ra, partner, n))));
    } else {
      const partner = residues(masks.get(p.a)?.[p.id], n * width(p.a, p.aMatrix), `The masked matrix of product "${p.id}" from "${p.a}"`);
      const own = matrixOf(state, p.bMatrix, n);
      state.results[p.id] = strings(add(multiply(p, partner, own, n), residues(deal.correction, size, `The dealer's correction for "${p.id}"`)));
    }
  }
}

/** Sends this site's matrices of round `round`, each masked by its dealer's randomness. */
async function sendMasks(state, round, n) {
  const to = new Map();
  for (const p of plan.products.filter((x) => x.round === round && x.kind !== 'local' && (x.a === org || x.b === org))) {
    const deal = state.deals[p.id];
    if (!deal) fail(`No dealer's randomness for product "${p.id}" reached site "${org}".`);
    const side = p.a === org ? { matrix: p.aMatrix, partner: p.b } : { matrix: p.bMatrix, partner: p.a };
    const x = matrixOf(state, side.matrix, n);
    const masked = add(x, expand(deal.seed, 'mask', x.length));
    if (!to.has(side.partner)) to.set(side.partner, {});
    to.get(side.partner)[p.id] = strings(masked);
  }
  for (const [site, products] of to) await send(site, { products });
}

async function main() {
  if (!ROLES.includes(role)) return fail(`args.role must be one of ${ROLES.join(', ')}.`);
  if (M === undefined) return fail('args.modulus must be a decimal integer of at least 2.');
  if (!plan || typeof plan !== 'object' || !Array.isArray(plan.products) || !Array.isArray(plan.figures)) return fail('args.plan is not a vertical plan.');
  const index = Number(step.split('.')[step.split('.').length - 2]);
  const inputs = readInputs();

  if (role === 'release') {
    const kept = readVolumeJson(`${chainStep}.vertical.share.json`);
    const vectors = [...(kept ? [kept] : []), ...inputs.map((i) => i.content?.share)].map((v) => residues(v, plan.figures.length, 'A site\'s share of the figures'));
    if (vectors.length === 0) return fail('No shares reached the aggregator.');
    const totals = vectors.reduce(add);
    return output({ totals: decimals(totals), layout: plan.layout, modulus: M.toString() });
  }

  const { rows: n } = linkedRows();
  if (role === 'deal') return deal(n);

  const state = readState();
  for (const i of inputs.filter((x) => x.step.endsWith('.deal'))) Object.assign(state.deals, i.content?.products ?? {});
  if (index > 1) finishRound(state, inputs, index - 1, n);
  if (role === 'mask') {
    // Local products of this round need no partner: compute them with the round.
    writeVolumeJson(STATE, state);
    return sendMasks(state, index, n);
  }
  // share: the last round is done (local products of every round too), then the figures.
  for (let r = 1; r <= plan.rounds; r++) {
    for (const p of plan.products.filter((x) => x.round === r && x.kind === 'local' && x.a === org)) {
      state.results[p.id] = strings(multiply(p, matrixOf(state, p.aMatrix, n), matrixOf(state, p.bMatrix, n), n));
    }
  }
  const share = plan.figures.map((figure) => figure.reduce((sum, [id, i, j]) => {
    const p = plan.products.find((x) => x.id === id);
    const kept = state.results[id];
    if (!kept || (p.a !== org && p.b !== org)) return sum;
    const mine = residues(kept, resultSize(p, n), `The share of product "${id}"`);
    return (sum + mine[i * width(p.b, p.bMatrix) + j]) % M;
  }, 0n));
  writeVolumeJson(STATE, state);
  if (org === plan.aggregator) writeVolumeJson(`${chainStep}.vertical.share.json`, strings(share));
  else await send(plan.aggregator, { share: strings(share) });
}

await main();
