/**
 * A test fixture standing in for the `link` step (private set intersection) until it lands:
 * copies an already-linked CSV (`/data/<dataset>` or `/data/<dataset>/rows.csv`, header without the identifier, line k
 * the same person at every site) into the run volume as `<args.linked>.rows.csv` and
 * `<args.linked>.json` (`{ rows, dataset, columns }`), the files a link step leaves. It links
 * nothing. Not for production allow-lists.
 */
import { readFileSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { args, dataPath, fail, volumeFile, writeVolumeJson } from '#parley';

// The dataset is the CSV itself, or a directory holding rows.csv.
const source = dataPath(args.dataset);
const text = readFileSync(statSync(source).isDirectory() ? join(source, 'rows.csv') : source, 'utf8');
const lines = text.split(/\r?\n/).filter((l) => l !== '');
if (lines.length === 0) fail('rows.csv has no header.');
const path = volumeFile(`${args.linked}.rows.csv`);
writeFileSync(path, `${lines.join('\n')}\n`, { mode: 0o600 });
chmodSync(path, 0o600);
writeVolumeJson(`${args.linked}.json`, { rows: lines.length - 1, dataset: args.dataset, columns: lines[0].split(',') });
