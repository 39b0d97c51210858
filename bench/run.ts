/**
 * `npm run bench`: Parley's benchmarks. Never part of `npm test`; results are written to
 * bench/results/latest.json and bench/results/latest.md.
 *
 * PARLEY_BENCH picks a subset (a comma list of envelope, checks, ring, api, demo, protocols, chain, privacy, algorithms,
 * payloads, load, linkage, vertical, model; default all). `model` runs no containers: it calibrates the scale model from the report's
 * other results (this run's or the kept ones) and predicts N sites on separate machines. The results of benchmarks not run this time are kept from the previous
 * latest.json, marked with the date they were measured, so a partial run never drops the others.
 * PARLEY_BENCH_PAYLOAD_MIB sets the payloads benchmark's sizes (default 1,10,100).
 * PARLEY_BENCH_SITES and PARLEY_BENCH_PROTOCOLS narrow `protocols` (default 3,5,10 sites; ring,additive).
 * PARLEY_BENCH_SITES_IN=processes runs `ring`'s and `protocols`' site workers each in a process of
 * its own, as deployed (default `this-process`: all in the benchmark's process, as the demo does).
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { prepareMachine } from '../provision/prepare-machine.ts';
import { ensureTemporalCli } from '../provision/temporal-cli.ts';
import { algorithmsRows, benchAlgorithms, type AlgorithmsBench } from './algorithms.bench.ts';
import { benchApiLatency, type ApiLatencyBench, type LatencyResult } from './api-latency.bench.ts';
import { benchChain, type ChainBench } from './chain.bench.ts';
import { chainMarkdown, chainRow, protocolsMarkdown, protocolsRows, siteWorkRow } from './critical-path-report.ts';
import { benchDemoApi, type DemoApiBench } from './demo-api.bench.ts';
import { benchEnvelope, type EnvelopeBench } from './envelope.bench.ts';
import { benchSiteChecks, type SiteChecksBench } from './site-checks.bench.ts';
import { benchBudgetLedger, benchPrivacyAccuracy, benchPrivacyCost, type PrivacyBench } from './privacy.bench.ts';
import { benchRing, type RingBench } from './ring.bench.ts';
import { benchModel, modelMarkdown, modelRow, type ModelBench } from './scale-model.bench.ts';
import { benchSecureSumProtocols, type ProtocolsBench } from './secure-sum-protocols.bench.ts';
import type { SitesIn } from './site-process-cluster.ts';
import { benchLinkage, linkageRows, type LinkageBench } from './linkage.bench.ts';
import { benchVertical, type VerticalBench } from './vertical.bench.ts';
import { benchLoad, loadRows, type LoadBench } from './load.bench.ts';
import { benchPayloads, payloadsRows, type PayloadsBench } from './payloads.bench.ts';
import { startTemporalDevServer } from '../provision/temporal-dev-server.ts';

const BENCHMARKS = ['envelope', 'checks', 'ring', 'api', 'demo', 'protocols', 'chain', 'privacy', 'algorithms', 'payloads', 'load', 'linkage', 'vertical', 'model'] as const;
type BenchmarkName = (typeof BENCHMARKS)[number];

interface Report {
  date: string;
  machine: { cpus: number; cpu: string | undefined; node: string };
  /** Benchmarks run this time. */
  benchmarks: BenchmarkName[];
  /** Benchmarks not run this time, kept from an earlier report: name → when they were measured. */
  carriedOver?: Partial<Record<BenchmarkName, string>>;
  envelope?: EnvelopeBench;
  checks?: SiteChecksBench;
  ring?: RingBench[];
  api?: ApiLatencyBench;
  demo?: DemoApiBench;
  protocols?: ProtocolsBench;
  chain?: ChainBench;
  privacy?: PrivacyBench;
  algorithms?: AlgorithmsBench;
  payloads?: PayloadsBench;
  load?: LoadBench;
  linkage?: LinkageBench;
  vertical?: VerticalBench;
  model?: ModelBench;
}

const log = (line: string) => process.stderr.write(`${line}\n`);
const runs = Number(process.env.PARLEY_BENCH_RUNS ?? 5);
const selected = selection(process.env.PARLEY_BENCH);
const temporalAddress = process.env.TEMPORAL_ADDRESS || undefined;
const sitesIn = sitesInOf(process.env.PARLEY_BENCH_SITES_IN);

const report: Report = {
  date: new Date().toISOString(),
  machine: { cpus: cpus().length, cpu: cpus()[0]?.model, node: process.version },
  benchmarks: selected,
};
if (selected.includes('envelope')) {
  log('envelope seal+open…');
  report.envelope = await benchEnvelope();
  log(`  median ${report.envelope.sealOpenMedianMs} ms; ${report.envelope.manyRecipients.recipients} recipients ${report.envelope.manyRecipients.sealOpenMedianMs} ms`);
}
if (selected.includes('checks')) {
  log('site checks per step (manifest, policy, release ledger)…');
  report.checks = await benchSiteChecks();
  log(`  check ${report.checks.checkStepMedianMs} ms, ledger admit ${report.checks.ledgerAdmitMedianMs} ms (medians)`);
}
if (selected.includes('ring')) {
  const machine = await prepareMachine(() => {});
  log('ring secure sum, Parley vs by hand…');
  report.ring = await benchRing({
    docker: machine.docker,
    ...(machine.temporalAddress ? { temporalAddress: machine.temporalAddress } : {}),
    ...(machine.temporalCli ? { temporalCli: machine.temporalCli } : {}),
    image: machine.images.secureSum,
    siteCounts: [3, 10],
    sitesIn,
    runs,
    log,
  });
}
if (selected.includes('api')) {
  log('API latency over loopback HTTP…');
  report.api = await benchApiLatency({
    ...(temporalAddress ? { temporalAddress } : { temporalCli: await ensureTemporalCli(log) }),
    log,
  });
  for (const r of [report.api.keyLookup, report.api.runCreation]) log(`  ${r.name}: median ${r.medianMs} ms, p99 ${r.p99Ms} ms`);
}
if (selected.includes('demo')) {
  log('demo with and without the API…');
  report.demo = await benchDemoApi({ runs, log });
  log(`  run median ${report.demo.viaApiRunMedianMs} ms via the API, ${report.demo.directRunMedianMs} ms without (ratio ${report.demo.ratio})`);
  log(`  whole demo median ${report.demo.viaApiTotalMedianMs} ms via the API, ${report.demo.directTotalMedianMs} ms without (ratio ${report.demo.totalRatio}); as a process of its own ${report.demo.viaApiProcessMedianMs} ms / ${report.demo.directProcessMedianMs} ms (ratio ${report.demo.processRatio})`);
  for (const [name, p] of Object.entries(report.demo.viaApiProcessPhases)) log(`    ${name.padEnd(20)} @${p.startMs} +${p.ms} ms${report.demo.directProcessPhases[name] ? ` (without the API @${report.demo.directProcessPhases[name].startMs} +${report.demo.directProcessPhases[name].ms} ms)` : ''}`);
}
if (selected.includes('privacy')) {
  log('differential privacy: accuracy against ε (simulated releases of the example chain)…');
  report.privacy = { accuracy: await benchPrivacyAccuracy(), ledger: await benchBudgetLedger() };
  log(`  budget ledger: check ${report.privacy.ledger!.checkMs} ms, charge ${report.privacy.ledger!.chargeMs} ms (medians)`);
  for (const a of report.privacy.accuracy) log(`  ε ${a.epsilon}: mean ${a.meanError}, variance ${a.varianceError}, histogram ${a.histogramError} (median relative errors)`);
}
if (selected.includes('protocols') || selected.includes('chain') || selected.includes('privacy')) {
  const machine = await prepareMachine(() => {});
  const cluster = {
    docker: machine.docker,
    ...(machine.temporalAddress ? { temporalAddress: machine.temporalAddress } : {}),
    ...(machine.temporalCli ? { temporalCli: machine.temporalCli } : {}),
  };
  if (selected.includes('protocols')) {
    log('secure sum, additive vs ring…');
    // Three timed runs, not five: 3 sizes × 2 protocols × (runs + warm-up) on a shared 2-core
    // machine, kept to a few minutes.
    const protocolRuns = Number(process.env.PARLEY_BENCH_RUNS ?? 3);
    // PARLEY_BENCH_SITES (e.g. 10) and PARLEY_BENCH_PROTOCOLS (ring, additive) narrow it for a targeted comparison.
    const siteCounts = (process.env.PARLEY_BENCH_SITES ?? '3,5,10').split(',').map(Number);
    const protocols = (process.env.PARLEY_BENCH_PROTOCOLS ?? 'ring,additive').split(',').filter((p): p is 'ring' | 'additive' => p === 'ring' || p === 'additive');
    report.protocols = await benchSecureSumProtocols({ ...cluster, sitesIn, images: { ring: machine.images.secureSum, additive: machine.images.additiveSum }, siteCounts, protocols, runs: protocolRuns, log });
    for (const r of report.protocols.results) log(`  ${r.sites} sites: additive/ring ${r.wallRatio ?? 'not measured'} measured, ${r.criticalPathRatio ?? 'not measured'} on the critical path`);
  }
  if (selected.includes('chain')) {
    log('example chain end to end vs its containers…');
    report.chain = await benchChain({ ...cluster, images: machine.images, runs, log });
    log(`  median ${report.chain.summary.wall.medianMs} ms; Σ containers ${report.chain.summary.containerSum.medianMs} ms, critical path ${report.chain.summary.criticalPath.medianMs} ms`);
  }
  if (selected.includes('privacy')) {
    log('differential privacy: the exact and the private example chain end to end…');
    report.privacy!.cost = await benchPrivacyCost({ ...cluster, images: machine.images, runs, log });
    log(`  sites' own work per activity: ${report.privacy!.cost.exactSiteWorkMs} ms exact, ${report.privacy!.cost.privateSiteWorkMs} ms private`);
  }
}
if (selected.includes('algorithms')) {
  const machine = await prepareMachine(() => {});
  log('own algorithms: build cold and warm, algorithm test vs its container…');
  report.algorithms = await benchAlgorithms({ docker: machine.docker, runs, log });
}
if (selected.includes('payloads') || selected.includes('load')) {
  const machine = await prepareMachine(() => {});
  // Their site workers run in processes of their own, so they need a Temporal address: a dev
  // server of their own unless TEMPORAL_ADDRESS names one (then in its `default` namespace).
  const server = machine.temporalAddress ? undefined : await startTemporalDevServer({ executable: machine.temporalCli! });
  const temporal = { temporalAddress: machine.temporalAddress ?? server!.address, namespace: 'default', docker: machine.docker, images: machine.images, log };
  try {
    if (selected.includes('payloads')) {
      log('a step sending 1, 10 and 100 MiB…');
      report.payloads = await benchPayloads({ ...temporal, sizesMiB: (process.env.PARLEY_BENCH_PAYLOAD_MIB ?? '1,10,100').split(',').map(Number) });
    }
    if (selected.includes('load')) {
      log('50 ring secure sums and 10 chains at once…');
      report.load = await benchLoad({ ...temporal, rings: 50, chains: 10 });
    }
  } finally {
    await server?.stop();
  }
}

if (selected.includes('linkage')) {
  const machine = await prepareMachine(() => {});
  log('private record linkage (link step), 3 sites, end to end…');
  report.linkage = await benchLinkage({
    docker: machine.docker,
    ...(machine.temporalAddress ? { temporalAddress: machine.temporalAddress } : {}),
    ...(machine.temporalCli ? { temporalCli: machine.temporalCli } : {}),
    image: machine.images.link,
    sizes: [10_000, 100_000],
    log,
  });
}
if (selected.includes('vertical')) {
  const machine = await prepareMachine(() => {});
  log('vertical regression over linked rows, end to end…');
  report.vertical = await benchVertical({
    docker: machine.docker, images: machine.images, runs: Number(process.env.PARLEY_BENCH_RUNS ?? 3), log,
    ...(machine.temporalAddress ? { temporalAddress: machine.temporalAddress } : {}),
    ...(machine.temporalCli ? { temporalCli: machine.temporalCli } : {}),
  });
  log(`  median ${report.vertical.wallMedianMs} ms; largest coefficient error against OLS ${report.vertical.maxCoefficientError}`);
}

const dir = fileURLToPath(new URL('./results/', import.meta.url));
await mkdir(dir, { recursive: true });
carryOver(report, await previousReport(`${dir}latest.json`));
if (selected.includes('model')) {
  // Last, over the carried-over results too: the model is calibrated from the others.
  log('scale model: calibrate, validate on this machine, predict separate machines…');
  report.model = await benchModel({ cores: report.machine.cpus, ...(report.protocols ? { protocols: report.protocols } : {}), ...(report.envelope ? { envelope: report.envelope } : {}), ...(report.chain ? { chain: report.chain } : {}) });
  const at10 = report.model.predictions.find((p) => p.sites === 10);
  log(`  10 sites, separate machines: additive/ring ${at10?.additiveOverRing} predicted`);
}
await writeFile(`${dir}latest.json`, `${JSON.stringify(report, null, 2)}\n`);
const md = markdown(report);
await writeFile(`${dir}latest.md`, md);
process.stdout.write(md);
process.exit(0);

/**
 * Parses PARLEY_BENCH_SITES_IN (`ring`, `protocols`): `this-process`, the default, runs every site
 * worker in the benchmark's process, as the demo does; `processes` runs each in a process of its
 * own, as deployments do (on one 2-core machine that is no closer to separate machines: ten
 * processes' runtimes then compete for the same two cores). Exits 2 naming the two on anything else.
 */
function sitesInOf(value: string | undefined): SitesIn {
  if (value === undefined || value === '' || value === 'this-process') return 'this process';
  if (value === 'processes') return 'a process each';
  process.stderr.write(`PARLEY_BENCH_SITES_IN=${value} is not a place the sites can run. Use this-process (the default: all in the benchmark's process, as the demo runs them) or processes (a process per site, as deployed).\n`);
  process.exit(2);
}

/** Parses PARLEY_BENCH; exits 2 naming the valid names when one is unknown. */
function selection(value: string | undefined): BenchmarkName[] {
  if (!value?.trim()) return [...BENCHMARKS];
  const names = [...new Set(value.split(',').map((name) => name.trim().toLowerCase()).filter(Boolean))];
  const unknown = names.filter((name) => !(BENCHMARKS as readonly string[]).includes(name));
  if (unknown.length > 0 || names.length === 0) {
    process.stderr.write(`PARLEY_BENCH=${value} names no benchmark Parley has (${unknown.join(', ') || 'empty'}).\nUse a comma list of ${BENCHMARKS.join(', ')}, e.g. PARLEY_BENCH=api,demo npm run bench, or leave it unset to run them all.\n`);
    process.exit(2);
  }
  return names as BenchmarkName[];
}

async function previousReport(file: string): Promise<Partial<Report> | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as Partial<Report>;
  } catch {
    return undefined;
  }
}

/** Copies into `report` the previous report's results of benchmarks not run this time. */
function carryOver(report: Report, previous: Partial<Report> | undefined): void {
  if (!previous) return;
  const carried: Partial<Record<BenchmarkName, string>> = {};
  for (const name of BENCHMARKS) {
    if (report.benchmarks.includes(name) || previous[name] === undefined) continue;
    (report as unknown as Record<BenchmarkName, unknown>)[name] = previous[name];
    carried[name] = previous.carriedOver?.[name] ?? previous.date ?? 'an earlier run';
  }
  if (Object.keys(carried).length > 0) report.carriedOver = carried;
}

function markdown(report: Report): string {
  const mark = (name: BenchmarkName) => (report.carriedOver?.[name] ? ' †' : '');
  const goal = (ok: boolean) => (ok ? '✓' : '✗');
  const latency = (r: LatencyResult) => `| ${r.name} (median of ${r.requests})${mark('api')} | ${r.medianMs} ms (p99 ${r.p99Ms} ms) | — | — | — |`;
  const rows = [
    ...(report.ring ?? []).map((r) => `| ${r.name} (median of ${r.runs}${r.sitesIn === 'a process each' ? ', a process per site' : ''})${mark('ring')} | ${r.parleyMedianMs} ms | ${r.baselineMedianMs} ms (same containers by hand) | ${r.ratio} | ≤ ${r.goalRatio.toFixed(2)} ${goal(r.ratio <= r.goalRatio)} |`),
    ...(report.checks ? [
      `| a site's step check: manifest verified, policy and step checked (median of ${report.checks.iterations})${mark('checks')} | ${report.checks.checkStepMedianMs} ms (p99 ${report.checks.checkStepP99Ms} ms) | — | — | ≤ ${report.checks.goalMs} ms ${goal(report.checks.checkStepMedianMs <= report.checks.goalMs)} |`,
      `| release-ledger admit, ${report.checks.cohortRows} rows against ${report.checks.earlierCohorts} earlier cohorts, fsynced${mark('checks')} | ${report.checks.ledgerAdmitMedianMs} ms (p99 ${report.checks.ledgerAdmitP99Ms} ms) | — | — | ≤ ${report.checks.goalMs} ms ${goal(report.checks.ledgerAdmitMedianMs <= report.checks.goalMs)} |`,
    ] : []),
    ...(report.envelope ? [`| ${report.envelope.name} (median of ${report.envelope.iterations})${mark('envelope')} | ${report.envelope.sealOpenMedianMs} ms (p99 ${report.envelope.sealOpenP99Ms} ms) | — | — | ≤ ${report.envelope.goalMs} ms ${goal(report.envelope.sealOpenMedianMs <= report.envelope.goalMs)} |`] : []),
    ...(report.envelope?.manyRecipients ? [((m) => `| envelope seal + open by one, 1 KiB, ${m.recipients} recipients (median of ${m.iterations})${mark('envelope')} | ${m.sealOpenMedianMs} ms (seal ${m.sealMedianMs} ms) | — | — | ≤ ${m.goalMs} ms ${goal(m.sealOpenMedianMs <= m.goalMs)} |`)(report.envelope.manyRecipients)] : []),
    ...(report.api ? [latency(report.api.keyLookup), latency(report.api.runCreation)] : []),
    ...(report.demo
      ? [
          `| ${report.demo.name}: run start to opened result (median of ${report.demo.runs})${mark('demo')} | ${report.demo.viaApiRunMedianMs} ms | ${report.demo.directRunMedianMs} ms (without the API) | ${report.demo.ratio} | ≤ ${report.demo.goalRatio} ${goal(report.demo.ratio <= report.demo.goalRatio)} |`,
          `| ${report.demo.name}: whole demo, in this process, to the opened result (median of ${report.demo.runs})${mark('demo')} | ${report.demo.viaApiTotalMedianMs} ms | ${report.demo.directTotalMedianMs} ms (without the API) | ${report.demo.totalRatio} | ≤ 1.5 ${goal(report.demo.totalRatio <= 1.5)} |`,
          // Reports from before the process figure was measured have none.
          ...(report.demo.viaApiProcessMedianMs !== undefined
            ? [`| ${report.demo.name}: whole demo as a user runs it, a process from spawn to exit (median of ${report.demo.runs})${mark('demo')} | ${report.demo.viaApiProcessMedianMs} ms | ${report.demo.directProcessMedianMs} ms (without the API) | ${report.demo.processRatio} | ≤ ${report.demo.goalProcessRatio} ${goal(report.demo.processRatio <= report.demo.goalProcessRatio)} |`]
            : []),
        ]
      : []),
    ...(report.protocols ? protocolsRows(report.protocols, mark('protocols')) : []),
    ...(report.protocols ? siteWorkRow(report.protocols, mark('protocols')) : []),
    ...(report.chain ? [chainRow(report.chain, mark('chain'))] : []),
    ...(report.privacy?.cost ? [`| private example chain: sites' own work per activity (median)${mark('privacy')} | ${report.privacy.cost.privateSiteWorkMs} ms | ${report.privacy.cost.exactSiteWorkMs} ms (the exact chain) | +${report.privacy.cost.addedMs} ms | no measurable change beside containers |`] : []),
    ...(report.algorithms ? algorithmsRows(report.algorithms, mark('algorithms')) : []),
    ...(report.payloads ? payloadsRows(report.payloads, mark('payloads')) : []),
    ...(report.load ? loadRows(report.load, mark('load')) : []),
    ...(report.linkage ? linkageRows(report.linkage, mark('linkage')) : []),
    ...(report.vertical ? [`| ${report.vertical.name}: run start to decoded fit (median of ${report.vertical.runs})${mark('vertical')} | ${report.vertical.wallMedianMs} ms | — | — | < ${report.vertical.goalMs} ms ${goal(report.vertical.wallMedianMs < report.vertical.goalMs)} |`] : []),
    ...(report.model ? [modelRow(report.model, mark('model'))] : []),
  ];
  const carried = Object.entries(report.carriedOver ?? {}).map(([name, date]) => `${name} (${date})`);
  return [
    `# Parley benchmarks (${report.date})`,
    '',
    `Machine: ${report.machine.cpus} cores, ${report.machine.cpu}, Node ${report.machine.node}.`,
    '',
    '| benchmark | Parley | baseline | ratio | goal |',
    '| --- | --- | --- | --- | --- |',
    ...rows,
    '',
    ...(carried.length > 0 ? [`† Not run this time; kept from an earlier run: ${carried.join(', ')}.`, ''] : []),
    ...(report.protocols ? protocolsMarkdown(report.protocols, mark('protocols')) : []),
    ...(report.chain ? chainMarkdown(report.chain, mark('chain')) : []),
    ...(report.privacy ? privacyMarkdown(report.privacy, mark('privacy')) : []),
    ...(report.model ? modelMarkdown(report.model, mark('model')) : []),
  ].join('\n');
}

function privacyMarkdown(p: PrivacyBench, mark: string): string[] {
  return [
    `## Differential privacy: accuracy against ε${mark}`,
    '',
    `The private example chain's figures over registries a, b and c, ${p.accuracy[0]?.releases ?? 0} simulated releases per ε (δ = ${p.accuracy[0]?.delta}), each noised as the three sites noise it: median error relative to the exact figure.`,
    '',
    '| ε | count | mean | variance | histogram (Σ|Δcell| / count) | mean\'s 95 % interval, width |',
    '| --- | --- | --- | --- | --- | --- |',
    ...p.accuracy.map((a) => `| ${a.epsilon} | ${a.countError} | ${a.meanError} | ${a.varianceError} | ${a.histogramError} | ${a.meanIntervalWidth} |`),
    '',
    ...(p.ledger ? [`The budget ledger, against ${p.ledger.earlierCharges} earlier charges: a check ${p.ledger.checkMs} ms (at every step that reads data), a charge ${p.ledger.chargeMs} ms, fsynced (once per release and site); medians.`, ''] : []),
    ...(p.cost ? [`End to end: ${p.cost.privateWallMs} ms private against ${p.cost.exactWallMs} ms exact (medians); the sites' own work per activity ${p.cost.privateSiteWorkMs} ms against ${p.cost.exactSiteWorkMs} ms.`, ''] : []),
  ];
}
