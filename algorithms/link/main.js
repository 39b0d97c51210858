/**
 * One step of the `link` chain step: multi-party Diffie–Hellman private set intersection over an
 * identifier column (Meadows, IEEE S&P 1986; Huberman, Franklin & Hogg, ACM EC 1999), over
 * curve25519 (./psi.js: RFC 9380 hash to curve, RFC 7748 X25519). The routing — who sends
 * which list where, in which round — is common/link-plan.ts; the site worker checks every step
 * against it before this container starts, and passes the step's part of it as args.hops.
 *
 * Args: { role: 'blind' | 'pass' | 'compare' | 'write', link: <chain step id> (file names),
 *   comparer: <org>, dataset?: <name> (blind, write), identifier?: <column> (blind, write),
 *   check?: 'nhs-mod11' | 'none', complete?: [<column>] (rows with an empty cell there are left
 *   out before linking), hops: [{ origin, to, shuffle? }] }.
 * Messages: a list `{ origin, points }` (base64 of 32-byte u-coordinates); an answer
 * `{ origin, ranks }` (per position of origin's list: its rank in the common order, or −1).
 *
 * Kept in the run volume (0600), so a retried step gives the same result: `<link>.psi-key` (this
 * site's X25519 key, fresh per run), `<link>.psi-order.json` (this site's secret shuffle: position
 * → row), `<link>.psi-reorder.json` (at the last non-comparer site, its shuffle of the comparer's
 * list). Written by `write`: `<link>.rows.csv` (the dataset's columns but the identifier, one
 * line per intersection element in the common order) and `<link>.json` ({ rows, dataset,
 * columns }). No identifier, and no hash of one, is ever written to the volume or sent.
 *
 * Never logs a value, a size or an identifier.
 */
import { randomInt } from 'node:crypto';
import { existsSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { args, dataPath, fail, minRows, org, readInputs, send, volumeFile, writeVolumeJson, readVolumeJson } from '#parley';
import { blind, hashToCurve, newBlindingKey, packPoints, unpackPoints } from './psi.js';

const ROLES = ['blind', 'pass', 'compare', 'write'];
const LINK_ID = /^[a-z][a-z0-9-]{0,31}$/;
const FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** The NHS number's modulus 11 check (weights 10…2; 11 → 0; 10 is never issued). */
function nhsMod11(id) {
  if (!/^[0-9]{10}$/.test(id)) return false;
  let sum = 0;
  for (let i = 0; i < 9; i++) sum += Number(id[i]) * (10 - i);
  const check = 11 - (sum % 11);
  return check !== 10 && (check === 11 ? 0 : check) === Number(id[9]);
}

function writePrivate(name, data) {
  const path = volumeFile(name);
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, data, { mode: 0o600 });
  renameSync(temporary, path);
}

/** This site's blinding key (PKCS#8 DER, kept as base64): made once per run, then read back (a retried step blinds alike). */
function blindingKey(link) {
  const name = `${link}.psi-key`;
  if (!existsSync(volumeFile(name))) writePrivate(name, `${newBlindingKey().toString('base64')}\n`);
  return Buffer.from(readFileSync(volumeFile(name), 'utf8').trim(), 'base64');
}

/** A secret uniform permutation of 0…n−1 (Fisher–Yates with node:crypto's randomInt), kept under `name`. */
function keptPermutation(name, n) {
  const kept = readVolumeJson(name);
  if (kept !== undefined) {
    if (!Array.isArray(kept) || kept.length !== n) return fail(`${name} in the run volume does not fit this step's list: was the run volume altered?`);
    return kept;
  }
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  writeVolumeJson(name, order);
  return order;
}

/**
 * The dataset's header and its rows with a valid identifier, deduplicated (first occurrence
 * kept), in file order: the same at blind and at write, so positions mean the same rows.
 */
function readRows() {
  const { dataset, identifier, file, check = 'nhs-mod11', complete = [] } = args;
  if (typeof dataset !== 'string' || !FILE_NAME.test(dataset)) return fail('args.dataset must name the site\'s dataset to link.');
  if (typeof identifier !== 'string' || identifier === '') return fail('args.identifier must name the identifier column.');
  if (check !== 'nhs-mod11' && check !== 'none') return fail('args.check must be "nhs-mod11" or "none".');
  let path = dataPath(dataset);
  try {
    if (statSync(path).isDirectory()) path = join(path, typeof file === 'string' && FILE_NAME.test(file) ? file : `${dataset}.csv`);
  } catch {
    return fail(`Dataset "${dataset}" is not mounted: does site.yaml map it to a CSV file or a directory holding ${dataset}.csv?`);
  }
  let text;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return fail(`Dataset "${dataset}" has no readable CSV (${dataset}.csv in its directory, or the file itself).`);
  }
  if (text.includes('"')) return fail(`Dataset "${dataset}" has quoted CSV fields, which the link step does not read: export it without quotes.`);
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/).filter((l) => l !== '');
  const header = (lines[0] ?? '').split(',');
  const column = header.indexOf(identifier);
  if (column < 0) return fail(`Dataset "${dataset}" has no column "${identifier}" (its header names: ${header.join(', ')}).`);
  if (!Array.isArray(complete) || !complete.every((c) => typeof c === 'string')) return fail('args.complete must list column names.');
  // Rows the analyses could not use are left out before linking: nobody links them, and to the
  // other sites they look like people this site does not have.
  const needed = complete.map((name) => {
    const k = header.indexOf(name);
    return k < 0 ? fail(`Dataset "${dataset}" has no column "${name}", which the link's "complete" names (its header names: ${header.join(', ')}).`) : k;
  });
  const seen = new Set();
  const rows = [];
  for (let i = 1; i < lines.length; i++) {
    const cells = lines[i].split(',');
    if (cells.length !== header.length) continue;
    const id = cells[column].trim();
    if (id === '' || (check === 'nhs-mod11' && !nhsMod11(id)) || seen.has(id)) continue;
    if (needed.some((k) => cells[k].trim() === '')) continue;
    seen.add(id);
    rows.push({ id, cells: cells.filter((_, k) => k !== column) });
  }
  return { header: header.filter((_, k) => k !== column), rows };
}

function hopFor(origin) {
  const hop = (args.hops ?? []).find((h) => h.origin === origin);
  if (!hop) return fail(`This step received a list or answer of "${origin}", which its routing (args.hops) does not name.`);
  return hop;
}

/** The step's inputs of kind `field`, each origin once, as the routing expects. */
function inputsOf(field, expected) {
  const inputs = readInputs();
  const byOrigin = new Map();
  for (const input of inputs) {
    const { origin } = input.content ?? {};
    if (typeof origin !== 'string' || byOrigin.has(origin) || input.content[field] === undefined) {
      return fail(`An input from "${input.from}" is not one ${field === 'points' ? 'list' : 'answer'} of a site this step expects.`);
    }
    byOrigin.set(origin, input.content[field]);
  }
  for (const origin of expected) if (!byOrigin.has(origin)) return fail(`This step expected the ${field === 'points' ? 'list' : 'answer'} of "${origin}" and did not receive it.`);
  if (byOrigin.size !== expected.length) return fail('This step received more inputs than its routing expects.');
  return byOrigin;
}

function points(value, origin) {
  const list = unpackPoints(value);
  if (!list) return fail(`The list of "${origin}" is not a sequence of 32-byte values.`);
  return list;
}

async function blindRole(link) {
  const { rows } = readRows();
  const order = keptPermutation(`${link}.psi-order.json`, rows.length);
  const hashed = hashToCurve(order.map((k) => Buffer.from(rows[k].id, 'utf8')));
  const [hop] = args.hops ?? [];
  if (!hop || hop.origin !== org) return fail('args.hops must send this site\'s own list on.');
  await send(hop.to, { origin: org, points: packPoints(blind(blindingKey(link), hashed)) });
}

async function passRole(link) {
  const lists = inputsOf('points', (args.hops ?? []).map((h) => h.origin));
  const key = blindingKey(link);
  for (const [origin, value] of lists) {
    const hop = hopFor(origin);
    let blinded = blind(key, points(value, origin));
    if (hop.shuffle) {
      const order = keptPermutation(`${link}.psi-reorder.json`, blinded.length);
      blinded = order.map((k) => blinded[k]);
    }
    await send(hop.to, { origin, points: packPoints(blinded) });
  }
}

async function compareRole(link) {
  const hops = args.hops ?? [];
  const lists = inputsOf('points', hops.map((h) => h.origin));
  const key = blindingKey(link);
  // Every list in F-space (blinded by every site's key): C's own came so from the last site.
  const full = new Map();
  for (const [origin, value] of lists) {
    const list = points(value, origin);
    full.set(origin, (origin === org ? list : blind(key, list)).map((p) => p.toString('hex')));
  }
  const sets = [...full.values()].map((l) => new Set(l));
  const [first, ...rest] = sets;
  const common = [...first].filter((v) => rest.every((s) => s.has(v))).sort();
  if (common.length < minRows()) {
    return fail('The linkage was refused: the intersection is below the threshold (PARLEY_MIN_ROWS), so nothing was linked. Link larger sources, or ask the operator about the disclosure threshold.');
  }
  // The common order: each element's rank among the intersection's F values (sorted), which
  // are pseudorandom, so the order says nothing about any site's rows.
  const rank = new Map(common.map((v, i) => [v, i]));
  for (const hop of hops) {
    await send(hop.to, { origin: hop.origin, ranks: full.get(hop.origin).map((v) => rank.get(v) ?? -1) });
  }
}

function checkRanks(ranks, n, origin) {
  if (!Array.isArray(ranks) || ranks.length !== n) return fail(`The answer for "${origin}" does not fit its list.`);
  const matched = ranks.filter((r) => r !== -1);
  const seen = new Set(matched);
  if (!matched.every((r) => Number.isInteger(r) && r >= 0 && r < matched.length) || seen.size !== matched.length) {
    return fail(`The answer for "${origin}" is not a ranking of the intersection.`);
  }
  return matched.length;
}

async function writeRole(link) {
  const hops = args.hops ?? [];
  const answers = inputsOf('ranks', [org, ...hops.map((h) => h.origin)].filter((o, i, all) => all.indexOf(o) === i));
  // At the last site before the comparer: its answer goes back in the comparer's own order.
  for (const hop of hops) {
    const order = readVolumeJson(`${link}.psi-reorder.json`);
    const ranks = answers.get(hop.origin);
    if (!Array.isArray(order) || !Array.isArray(ranks) || order.length !== ranks.length) return fail('The shuffle of the comparer\'s list is missing from the run volume, or does not fit its answer.');
    const unshuffled = new Array(order.length);
    order.forEach((k, j) => { unshuffled[k] = ranks[j]; });
    await send(hop.to, { origin: hop.origin, ranks: unshuffled });
  }
  const { header, rows } = readRows();
  const order = readVolumeJson(`${link}.psi-order.json`);
  if (!Array.isArray(order) || order.length !== rows.length) return fail('This site\'s shuffle is missing from the run volume, or the dataset changed since the blind step.');
  const ranks = answers.get(org);
  const size = checkRanks(ranks, rows.length, org);
  if (size < minRows()) return fail('The linkage was refused: the intersection is below this site\'s threshold (PARLEY_MIN_ROWS), so nothing was written.');
  const lines = new Array(size);
  ranks.forEach((r, position) => { if (r !== -1) lines[r] = rows[order[position]].cells.join(','); });
  writePrivate(`${link}.rows.csv`, `${header.join(',')}\n${lines.join('\n')}${size > 0 ? '\n' : ''}`);
  writeVolumeJson(`${link}.json`, { rows: size, dataset: args.dataset, columns: header });
}

async function main() {
  const { role, link } = args;
  if (!ROLES.includes(role)) return fail(`args.role must be one of ${ROLES.join(', ')}.`);
  if (typeof link !== 'string' || !LINK_ID.test(link)) return fail('args.link must be the link step\'s id.');
  if (!Array.isArray(args.hops)) return fail('args.hops must list where this step\'s lists go.');
  if (role === 'blind') await blindRole(link);
  else if (role === 'pass') await passRole(link);
  else if (role === 'compare') await compareRole(link);
  else await writeRole(link);
}

main().catch((err) => fail(`link failed: ${err instanceof Error ? err.message : 'unknown error'}`));
