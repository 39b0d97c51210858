/**
 * A Parley algorithm: the count and mean of one numeric column of a CSV dataset.
 *
 * It runs at each site inside Parley's sandbox: no network, a read-only file system, the site's
 * dataset mounted read-only under /data. What it outputs goes (sealed) to the run's requester.
 *
 * Try it here first:  parley algorithm test . --dataset patients=samples/patients.csv --args '{"column": "lab_value"}'
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { args, dataPath, fail, minRows, output } from '#parley';

const dataset = args.dataset ?? 'patients';
const column = args.column; // the manifest's args schema makes it required

// A dataset is a file, or a directory holding one CSV.
let path = dataPath(dataset);
if (statSync(path).isDirectory()) path = join(path, args.file ?? 'registry.csv');

// A plain CSV (no quoted commas): the header names the columns.
const [header = '', ...lines] = readFileSync(path, 'utf8').split(/\r?\n/).filter((line) => line !== '');
const index = header.split(',').indexOf(column);
if (index < 0) fail('The dataset has no column named in args.column.'); // never print a value

// A missing, empty or malformed cell is left out (Number('') would be 0, so empty cells go first).
const values = lines
  .map((line) => (line.split(',')[index] ?? '').trim())
  .filter((cell) => cell !== '')
  .map(Number)
  .filter((v) => Number.isFinite(v));

// The site's disclosure threshold: no aggregate over fewer rows leaves the site.
if (values.length < minRows()) fail("Too few rows with a value to release an aggregate (below the site's disclosure threshold).");

await output({ count: values.length, mean: values.reduce((a, b) => a + b, 0) / values.length });
