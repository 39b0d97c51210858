/**
 * `npm run bench`: Parley's benchmarks. Never part of `npm test`; results are written to
 * bench/results/latest.json and bench/results/latest.md.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { prepareMachine } from '../workers/provision/prepare-machine.ts';
import { benchEnvelope } from './envelope.bench.ts';
import { benchRing } from './ring.bench.ts';

const log = (line: string) => process.stderr.write(`${line}\n`);
const runs = Number(process.env.PARLEY_BENCH_RUNS ?? 5);

const machine = await prepareMachine(() => {});
log('envelope seal+open…');
const envelope = await benchEnvelope();
log(`  median ${envelope.sealOpenMedianMs} ms`);
log('ring secure sum, Parley vs by hand…');
const ring = await benchRing({
  docker: machine.docker,
  ...(machine.temporalAddress ? { temporalAddress: machine.temporalAddress } : {}),
  ...(machine.temporalCli ? { temporalCli: machine.temporalCli } : {}),
  image: machine.images.secureSum,
  siteCounts: [3, 10],
  runs,
  log,
});

const report = {
  date: new Date().toISOString(),
  machine: { cpus: cpus().length, cpu: cpus()[0]?.model, node: process.version },
  envelope,
  ring,
};
const dir = fileURLToPath(new URL('./results/', import.meta.url));
await mkdir(dir, { recursive: true });
await writeFile(`${dir}latest.json`, `${JSON.stringify(report, null, 2)}\n`);
const md = [
  `# Parley benchmarks (${report.date})`,
  '',
  `Machine: ${report.machine.cpus} cores, ${report.machine.cpu}, Node ${report.machine.node}.`,
  '',
  '| benchmark | Parley | baseline | ratio | goal |',
  '| --- | --- | --- | --- | --- |',
  ...ring.map((r) => `| ${r.name} (median of ${r.runs}) | ${r.parleyMedianMs} ms | ${r.baselineMedianMs} ms (same containers by hand) | ${r.ratio} | ≤ ${r.goalRatio} ${r.ratio <= r.goalRatio ? '✓' : '✗'} |`),
  `| ${envelope.name} (median of ${envelope.iterations}) | ${envelope.sealOpenMedianMs} ms (p99 ${envelope.sealOpenP99Ms} ms) | — | — | ≤ ${envelope.goalMs} ms ${envelope.sealOpenMedianMs <= envelope.goalMs ? '✓' : '✗'} |`,
  '',
].join('\n');
await writeFile(`${dir}latest.md`, md);
process.stdout.write(md);
process.exit(0);
