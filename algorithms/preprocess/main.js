/**
 * Preprocessing: reads one CSV dataset, drops (or refuses) malformed rows, keeps the rows that
 * satisfy a predicate, and writes the cohort to the run volume for the analysis step. Sends
 * nothing and outputs nothing: the cohort never leaves this site.
 *
 * Args: {
 *   dataset: string              the dataset, mounted at /data/<dataset>: the CSV file itself, or a
 *                                directory holding it
 *   file?: string                the CSV inside a directory dataset (default "registry.csv")
 *   where?: [{ column, op, value }]  every condition must hold (AND); op is one of
 *                                =, !=, <, <=, >, >= (value a number → numeric, a string → text),
 *                                in (value a list), startsWith (value a string). A missing (empty)
 *                                cell satisfies no condition, as NULL in SQL.
 *   malformed?: 'drop' | 'fail'  rows with the wrong number of fields, or an unparseable typed
 *                                cell (age: integer, lab_value: number), are dropped (default)
 *                                or fail the step
 * }
 * Writes /run/parley/volume/cohort.json (0600):
 *   { columns: string[], rows: string[][], counts: { read, malformed, filtered, kept } }
 *
 * and reports the cohort's row ids to the site worker (POST /v1/cohort), for its release ledger:
 * the `patient_id` column, or where the CSV has none, each row's position in the file. Not an
 * argument: a researcher who could name the id column could name one whose values repeat ("sex")
 * and make every cohort look alike to the ledger. The worker refuses a cohort that differs from
 * one it released before by fewer rows than its threshold, failing this step.
 *
 * Never logs a value, and no count either: a count is data too.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { args, dataPath, fail, reportCohort, writeVolumeJson } from '#parley';
import { parseCsv } from './csv.js';

const COHORT_FILE = 'cohort.json';
const ID_COLUMN = 'patient_id';
const DEFAULT_FILE = 'registry.csv';
const FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const OPS = ['=', '!=', '<', '<=', '>', '>=', 'in', 'startsWith'];
/** Columns whose cells must parse as their type when present; an empty cell is missing, not malformed. */
const TYPED_COLUMNS = { age: 'integer', lab_value: 'number' };
const INTEGER = /^[+-]?[0-9]+$/;
const NUMBER = /^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/;

/** @param {unknown} value */
const isScalar = (value) => typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value));

function checkArgs() {
  const { dataset, file, where = [], malformed = 'drop' } = args;
  if (typeof dataset !== 'string' || !FILE_NAME.test(dataset)) {
    return fail('args.dataset must name one of the site\'s datasets (letters, digits, ".", "_" or "-"), e.g. "registry".');
  }
  if (file !== undefined && (typeof file !== 'string' || !FILE_NAME.test(file))) {
    return fail('args.file must be the name of the CSV file inside the dataset directory (one path segment), e.g. "registry.csv".');
  }
  if (malformed !== 'drop' && malformed !== 'fail') return fail('args.malformed must be "drop" (leave malformed rows out) or "fail" (stop at the first).');
  if (!Array.isArray(where)) return fail('args.where must be a list of conditions { column, op, value }.');
  where.forEach((condition, i) => {
    const at = `args.where[${i}]`;
    if (typeof condition !== 'object' || condition === null) return fail(`${at} must be { column, op, value }.`);
    const { column, op, value } = condition;
    if (typeof column !== 'string' || column === '') return fail(`${at}.column must name a column of the CSV.`);
    if (!OPS.includes(op)) return fail(`${at}.op must be one of ${OPS.join(', ')}.`);
    if (op === 'in') {
      if (!Array.isArray(value) || value.length === 0 || !value.every(isScalar)) return fail(`${at}.value must be a non-empty list of strings or numbers for op "in".`);
    } else if (op === 'startsWith') {
      if (typeof value !== 'string') return fail(`${at}.value must be a string for op "startsWith".`);
    } else if (!isScalar(value)) {
      return fail(`${at}.value must be a string or a finite number for op "${op}".`);
    }
  });
  return { dataset, file, where, malformed };
}

/** The CSV's path: the dataset itself when it is a file, else `file` inside it. */
function csvPath(dataset, file) {
  const root = dataPath(dataset);
  let stats;
  try {
    stats = statSync(root);
  } catch {
    return fail(`Dataset "${dataset}" is not mounted at /data/${dataset}: ask for it in the step's datasets, and check the site has it.`);
  }
  if (stats.isDirectory()) return join(root, file ?? DEFAULT_FILE);
  if (file !== undefined) return fail(`args.file names a file inside a dataset directory, but dataset "${dataset}" is a single file: leave args.file out.`);
  return root;
}

/** One cell against one condition. A missing cell satisfies none (as NULL in SQL). */
function satisfies(cell, { op, value }) {
  const text = cell.trim();
  if (text === '') return false;
  const matches = (expected) => (typeof expected === 'number' ? NUMBER.test(text) && Number(text) === expected : text === expected);
  switch (op) {
    case '=':
      return matches(value);
    case '!=':
      return !matches(value);
    case 'in':
      return value.some(matches);
    case 'startsWith':
      return text.startsWith(value);
    default: {
      // Ordering: numbers numerically (a cell that is no number satisfies nothing), text by code units.
      let order;
      if (typeof value === 'number') {
        if (!NUMBER.test(text)) return false;
        order = Math.sign(Number(text) - value);
      } else {
        order = text < value ? -1 : text > value ? 1 : 0;
      }
      return op === '<' ? order < 0 : op === '<=' ? order <= 0 : op === '>' ? order > 0 : order >= 0;
    }
  }
}

/** Whether a typed cell is well formed: empty (missing) or parseable as its type. */
function wellTyped(cell, type) {
  const text = cell.trim();
  if (text === '') return true;
  return type === 'integer' ? INTEGER.test(text) : NUMBER.test(text);
}

async function main() {
  const { dataset, file, where, malformed } = checkArgs();
  const path = csvPath(dataset, file);
  let text;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return fail(`The CSV ${path} is missing or not readable: check args.dataset${file === undefined ? '' : ' and args.file'}.`);
  }
  const [header, ...records] = parseCsv(text);
  if (!header || header.broken || header.fields.every((f) => f.trim() === '')) return fail(`The CSV ${path} has no header row: its first line must name the columns.`);
  const columns = header.fields.map((f) => f.trim());
  if (new Set(columns).size !== columns.length) return fail(`The CSV ${path} names a column twice in its header: column names must be unique.`);
  const index = new Map(columns.map((name, i) => [name, i]));
  for (const [i, condition] of where.entries()) {
    if (!index.has(condition.column)) return fail(`args.where[${i}].column "${condition.column}" is not a column of the CSV (its columns: ${columns.join(', ')}).`);
  }
  const typed = Object.entries(TYPED_COLUMNS).filter(([name]) => index.has(name)).map(([name, type]) => [index.get(name), type, name]);

  const counts = { read: 0, malformed: 0, filtered: 0, kept: 0 };
  const rows = [];
  const ids = [];
  const idAt = index.get(ID_COLUMN);
  for (const record of records) {
    counts.read++;
    const badTyped = record.fields.length === columns.length ? typed.find(([i, type]) => !wellTyped(record.fields[i], type)) : undefined;
    if (record.broken || record.fields.length !== columns.length || badTyped) {
      if (malformed === 'fail') {
        const why = badTyped ? `a cell in column ${badTyped[2]} that is not ${badTyped[1] === 'integer' ? 'an integer' : 'a number'}` : 'the wrong number of fields, or a broken quote';
        // Neither the row nor its position: both are data.
        return fail(`The CSV ${path} has a malformed row (${why}), and args.malformed is "fail". Fix the data, or pass malformed: "drop" to leave such rows out.`);
      }
      counts.malformed++;
      continue;
    }
    if (where.every((condition) => satisfies(record.fields[index.get(condition.column)], condition))) {
      rows.push(record.fields);
      // An empty id cannot name a row: its position does, as for a file without ids.
      const id = idAt === undefined ? '' : record.fields[idAt].trim();
      ids.push(id === '' ? `#${counts.read}` : id);
      counts.kept++;
    } else {
      counts.filtered++;
    }
  }
  writeVolumeJson(COHORT_FILE, { columns, rows, counts });
  await reportCohort(dataset, ids);
}

main().catch((err) => fail(`preprocess failed: ${err instanceof Error ? err.message : 'unknown error'}`));
