// Runs this algorithm once under Parley's sandbox on the sample dataset and checks its output
// against the same computation done here. Run it with `node --test` (it calls
// `parley algorithm test`, so build first: `parley algorithm build .`).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const sample = join(here, 'samples', 'patients.csv');
const [command, ...prefix] = (process.env.PARLEY ?? 'npx parley').split(' ');

test('outputs the count and mean of the column', () => {
  const stdout = execFileSync(command, [...prefix, 'algorithm', 'test', here, '--dataset', `patients=${sample}`, '--args', JSON.stringify({ column: 'lab_value' }), '--json'], { encoding: 'utf8' });
  const result = JSON.parse(stdout.trim().split('\n').pop());
  const values = readFileSync(sample, 'utf8').trim().split('\n').slice(1).map((line) => Number(line.split(',')[2]));
  assert.equal(result.output.count, values.length);
  assert.ok(Math.abs(result.output.mean - values.reduce((a, b) => a + b, 0) / values.length) < 1e-9);
});
