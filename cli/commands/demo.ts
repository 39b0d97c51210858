/** `parley demo`: the whole system on one machine, in one command. */
import { randomInt } from 'node:crypto';
import type { DemoReport } from '../../demo/run-demo.ts';
import type { ChainDemoReport } from '../../demo/run-chain-demo.ts';
import type { VerticalDemoReport } from '../../demo/vertical-demo.ts';
import type { ChainOutputReading } from '../../researcher/chain-result.ts';
import type { Statistics } from '../../researcher/statistics.ts';
import { loadChainFile, problemLine } from '../lib/chain-file.ts';
import { formatVerticalResult } from '../lib/vertical-view.ts';
import { parseUsage, UsageError, type Command, type CommandIo } from '../lib/command.ts';
import { describePrivacy, formatCellCount } from '../../researcher/statistics.ts';

const usage = [
  'Usage: parley demo [--counts 120,45,310] [--sites 3] [--json] [--state-dir DIR]',
  '       parley demo --chain [FILE] [--sites 3] [--json] [--state-dir DIR]',
  '       parley demo --vertical [--json] [--state-dir DIR]',
  '',
  'Three registries (or --sites N ≥ 3) each hold a count of patients; a researcher learns their sum and',
  'nothing else, and no registry learns another\'s count. Starts a Temporal dev server (or uses',
  'TEMPORAL_ADDRESS), a coordinator and one site worker per registry, runs the ring secure sum in',
  'sandboxed containers, and opens the result with the researcher\'s key. Honours DOCKER_HOST.',
  '',
  'With --chain: each registry holds an example patient registry (examples/data/) as its dataset',
  '`patients`, and the chain FILE runs over them — by default the example chain',
  '(examples/chains/cohort-mean.yaml), which preprocesses and analyses it at each site, and a secure sum',
  'by additive shares gives the researcher the cohort\'s count, mean, variance, sd and histogram of the',
  'lab value. Try your own chain here before sending it to real sites: each output is opened with the',
  'researcher\'s key and shown per step. Images: the example images (parley/preprocess, parley/analyse,',
  'parley/additive-sum, parley/secure-sum), or your own, built and tagged on this machine\'s engine.',
  '',
  'With --vertical: a hospital, a lab and a pharmacy hold different columns about partly the same',
  'people (examples/data/vertical/); the chain examples/chains/vertical-regression.yaml links them',
  'privately (no identifier leaves a site) and fits HbA1c on age, sex, metformin and statin by secure',
  'products. The fit is printed beside ordinary least squares on the plaintext join, as a check.',
  '',
  '  --chain [FILE]   run a chain file (the example chain when none) instead of the ring secure sum (3 to 5 sites)',
  '  --vertical       run the vertical example: private record linkage, then a regression across sites',
  '  --counts LIST    each site\'s count, comma-separated (random when absent)',
  '  --sites N        number of sites when --counts is absent (default 3; with --chain, the chain\'s own',
  '                   sites when they are demo registries)',
  '  --json           print one JSON line last: {"result", "workflowId", "sites", …}',
  '  --state-dir DIR  keep the sites\' state in DIR across demos: keys, pins, the sites\' state',
  '                   directories and the API\'s database (default: a temporary directory, removed)',
].join('\n');

function parseCounts(text: string): bigint[] {
  return text.split(',').map((part, i) => {
    const trimmed = part.trim();
    if (!/^[0-9]{1,18}$/.test(trimmed)) {
      throw new UsageError(`--counts: item ${i + 1} ("${trimmed}") is not a non-negative whole number below 10^18.`);
    }
    return BigInt(trimmed);
  });
}

/** `--chain=FILE` as `--chain FILE`: node:util's parseArgs has no optional option values. */
function splitChainValue(argv: string[]): string[] {
  return argv.flatMap((arg) => (arg.startsWith('--chain=') ? ['--chain', arg.slice('--chain='.length)] : [arg]));
}

function parseOptions(argv: string[]) {
  const { values, positionals } = parseUsage({
    args: splitChainValue(argv),
    options: {
      chain: { type: 'boolean', default: false },
      vertical: { type: 'boolean', default: false },
      counts: { type: 'string' },
      sites: { type: 'string' },
      json: { type: 'boolean', default: false },
      'state-dir': { type: 'string' },
    },
    strict: true,
    allowPositionals: true,
  });
  if (!values.chain && positionals.length > 0) throw new UsageError(`Unexpected argument "${positionals[0]}": only --chain takes a file (parley demo --chain FILE).`);
  if (positionals.length > 1) throw new UsageError(`--chain takes one chain file; got ${positionals.length}: ${positionals.join(' ')}.`);
  if (values.vertical && (values.chain || values.counts !== undefined || values.sites !== undefined)) {
    throw new UsageError('--vertical runs its own chain over its own three sites (hospital, lab, pharmacy): leave out --chain, --counts and --sites.');
  }
  let sites = 3;
  if (values.chain && values.counts !== undefined) throw new UsageError('--counts is for the ring secure sum of counts; --chain reads the example registries. Give one of them.');
  if (values.chain && values.sites !== undefined && !/^[3-5]$/.test(values.sites)) {
    throw new UsageError(`--chain runs over 3 to 5 sites (there are five example registries); got "${values.sites}".`);
  }
  if (values.sites !== undefined) {
    if (!/^[0-9]+$/.test(values.sites) || Number(values.sites) < 3 || Number(values.sites) > 26) {
      throw new UsageError(`--sites must be a whole number from 3 to 26 (a secure sum over 2 would reveal each value to the other); got "${values.sites}".`);
    }
    sites = Number(values.sites);
  }
  let counts: bigint[];
  if (values.counts !== undefined) {
    counts = parseCounts(values.counts);
    if (counts.length < 3) throw new UsageError(`--counts needs at least 3 counts (one per site); got ${counts.length}.`);
    if (counts.length > 26) throw new UsageError(`--counts takes at most 26 counts; got ${counts.length}.`);
    if (values.sites !== undefined && counts.length !== sites) {
      throw new UsageError(`--sites ${sites} disagrees with --counts, which lists ${counts.length} counts. Give one of them.`);
    }
  } else {
    counts = Array.from({ length: sites }, () => BigInt(randomInt(0, 1000)));
  }
  return {
    chain: values.chain ?? false,
    vertical: values.vertical ?? false,
    chainFile: positionals[0],
    sites,
    /** --sites as given: with --chain, absent lets the chain's own sites decide. */
    sitesGiven: values.sites === undefined ? undefined : sites,
    counts,
    json: values.json ?? false,
    stateDir: values['state-dir'],
  };
}

function formatReport(report: DemoReport): string[] {
  const ok = report.result === report.plainSum;
  const lines = [
    '',
    `Result: ${report.result}  (${ok ? 'matches' : 'DOES NOT MATCH'} the plain sum ${report.plainSum}, computed here only as a check)`,
    `Workflow: ${report.workflowId}${report.apiUrl ? ` (started and read through the Parley API at ${report.apiUrl})` : ''}`,
    `Sites: ${report.sites.join(' → ')} → ${report.sites[0]}; result sealed for ${report.requester}`,
    'Steps:',
  ];
  const width = Math.max(...report.steps.map((s) => s.step.length));
  for (const s of report.steps) {
    lines.push(`  ${s.step.padEnd(width)}  ${s.org.padEnd(12)}  ${Math.round(s.timings.totalMs)} ms  (container ${Math.round(s.timings.containerMs)} ms)`);
  }
  lines.push(`Run time: ${Math.round(report.runMs)} ms from start to opened result; ${Math.round(report.totalMs)} ms in all.`);
  return lines;
}

export const demoCommand: Command = {
  name: 'demo',
  summary: 'Run the ring secure sum (or, with --chain [FILE], a chain: the example statistics chain by default) across registries on this machine',
  usage,
  async run(argv, io) {
    const options = parseOptions(argv);
    if (options.chain) return runChain(options, io);
    if (options.vertical) return runVertical(options, io);
    io.err(`Parley demo: ring secure sum across ${options.counts.length} registries`);
    // Loaded only now: the workers pull in Temporal's native runtime, which bad usage never needs.
    const { runDemo } = await import('../../demo/run-demo.ts');
    const report = await runDemo({
      counts: options.counts,
      signal: io.signal,
      progress: io.err,
      env: io.env,
      ...(options.stateDir ? { stateDir: options.stateDir } : {}),
    });
    const ok = report.result === report.plainSum;
    if (options.json) {
      for (const line of formatReport(report)) io.err(line);
      io.out(JSON.stringify({
        result: Number(report.result) <= Number.MAX_SAFE_INTEGER ? Number(report.result) : report.result.toString(),
        plainSum: report.plainSum.toString(),
        match: ok,
        workflowId: report.workflowId,
        sites: report.sites,
        requester: report.requester,
        steps: report.steps.map((s) => ({ step: s.step, org: s.org, totalMs: Math.round(s.timings.totalMs), containerMs: Math.round(s.timings.containerMs) })),
        runMs: Math.round(report.runMs),
      }));
    } else {
      for (const line of formatReport(report)) io.out(line);
    }
    return ok ? 0 : 1;
  },
};

function formatStatistics(s: Statistics): string[] {
  return [
    `  ${s.column}: count ${s.count}, mean ${s.mean.toFixed(3)}, variance ${s.variance.toFixed(3)}, sd ${s.sd.toFixed(3)}`,
    '  Histogram:',
    ...s.histogram.map((cell) => `    ${(cell.from === null ? `< ${cell.to}` : cell.to === null ? `≥ ${cell.from}` : `${cell.from} – < ${cell.to}`).padEnd(14)} ${formatCellCount(cell, s.suppressedBelow).padStart(6)}`),
    ...(s.suppressedBelow !== undefined ? [`    (cells shown as <${s.suppressedBelow} were suppressed by the sites' disclosure control)`] : []),
    ...(s.privacy ? describePrivacy(s.privacy) : []),
  ];
}

/** A step's output as JSON: BigInts as decimal strings. */
const toJsonText = (value: unknown) => JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));

function formatReading(reading: ChainOutputReading): string[] {
  switch (reading.kind) {
    case 'statistics': return ['statistics', ...formatStatistics(reading.statistics)];
    case 'total': return [`total ${reading.total}`];
    case 'json': return [`JSON ${toJsonText(reading.content)}`];
    case 'vertical': return formatVerticalResult(reading.result);
    case 'regression': {
      const r = reading.regression;
      return [`linear regression of ${r.outcome} over ${r.n} rows (least squares on the pooled rows)`, ...Object.entries(r.coefficients).map(([term, b]) => `  ${term.padEnd(12)} ${b}`), `  residual sum of squares ${r.rss}`];
    }
  }
}

function formatChainReport(report: ChainDemoReport, stateDir: string | undefined): string[] {
  const lines = ['', `Chain "${report.chain}" (${report.chainFile}) over ${report.sites.join(', ')}; every output sealed for ${report.requester} and opened with its key`];
  if (report.outputs.length === 0) lines.push('No outputs: no step of this chain sends one to the researcher.');
  for (const output of report.outputs) {
    const [head, ...rest] = formatReading(output.reading);
    lines.push(`Step "${output.step}" (sealed by ${output.org}): ${head}`, ...rest);
  }
  if (stateDir) {
    lines.push(`Sites' state ${report.reusedState ? 'kept from an earlier demo' : 'kept for the next demo'} in ${stateDir}; key fingerprints (sign):`);
    for (const f of report.fingerprints) lines.push(`  ${f.org.padEnd(12)}  ${f.sign}`);
  }
  lines.push(`Workflow: ${report.workflowId}${report.apiUrl ? ` (started and read through the Parley API at ${report.apiUrl})` : ''}`, 'Steps:');
  const width = Math.max(...report.steps.map((step) => step.step.length));
  for (const step of report.steps) {
    lines.push(`  ${step.step.padEnd(width)}  ${step.org.padEnd(12)}  ${step.timings.totalMs} ms  (container ${step.timings.containerMs} ms)`);
  }
  lines.push(`Run time: ${Math.round(report.runMs)} ms from start to opened result; ${Math.round(report.totalMs)} ms in all.`);
  return lines;
}

/** One output for --json: its reading, BigInts as decimal strings. */
function outputJson(output: ChainDemoReport['outputs'][number]): Record<string, unknown> {
  const { reading } = output;
  const value =
    reading.kind === 'statistics' ? { statistics: reading.statistics }
    : reading.kind === 'total' ? { total: reading.total.toString() }
    : reading.kind === 'regression' ? { regression: reading.regression, content: reading.content }
    : reading.kind === 'vertical' ? { result: reading.result }
    : { content: reading.content };
  return { step: output.step, org: output.org, kind: reading.kind, ...value };
}

async function runChain(options: ReturnType<typeof parseOptions>, io: CommandIo): Promise<number> {
  const { EXAMPLE_CHAIN_FILE, ChainCannotRunError } = await import('../../demo/example-chain.ts');
  const fileName = options.chainFile ?? EXAMPLE_CHAIN_FILE;
  // Validated before anything is provisioned or started: problems at file:line:column, exit 2.
  const loaded = await loadChainFile(fileName, io);
  if (loaded === undefined) {
    io.err('Nothing was started.');
    return 2;
  }
  io.err(`Parley demo: the chain "${loaded.file.name}" (${fileName}) across the demo registries`);
  const { runChainDemo } = await import('../../demo/run-chain-demo.ts');
  let report: ChainDemoReport;
  try {
    report = await runChainDemo({
      chain: { file: loaded.file, fileName },
      ...(options.sitesGiven !== undefined ? { sites: options.sitesGiven } : {}),
      signal: io.signal,
      progress: io.err,
      env: io.env,
      ...(options.stateDir ? { stateDir: options.stateDir } : {}),
    });
  } catch (err) {
    if (!(err instanceof ChainCannotRunError)) throw err;
    for (const problem of err.problems) io.err(problemLine(fileName, loaded.place(problem)));
    io.err('Nothing was started.');
    return 2;
  }
  const lines = formatChainReport(report, options.stateDir);
  if (!options.json) {
    for (const line of lines) io.out(line);
    return 0;
  }
  for (const line of lines) io.err(line);
  const s = report.statistics;
  io.out(toJsonText({
    chain: report.chain,
    chainFile: report.chainFile,
    // The one statistics output's figures at the top, for scripts that read the example chain.
    ...(s ? { column: s.column, count: s.count, mean: s.mean, variance: s.variance, sd: s.sd, histogram: s.histogram, ...(s.privacy ? { privacy: s.privacy } : {}) } : {}),
    outputs: report.outputs.map(outputJson),
    workflowId: report.workflowId,
    sites: report.sites,
    requester: report.requester,
    fingerprints: report.fingerprints,
    ...(options.stateDir ? { stateDir: options.stateDir, reusedState: report.reusedState } : {}),
    steps: report.steps.map((step) => ({ step: step.step, org: step.org, totalMs: step.timings.totalMs, containerMs: step.timings.containerMs })),
    runMs: Math.round(report.runMs),
  }));
  return 0;
}

/** What the vertical demo prints: the chain's report, then the secure fit beside the plaintext one. */
function formatVerticalReport(report: VerticalDemoReport, stateDir: string | undefined): string[] {
  const { regression: secure, plaintext } = report;
  const width = Math.max(12, ...secure.terms.map((t) => t.length));
  const figure = (v: number) => v.toFixed(6).padStart(13);
  const match = report.maxDifference < VERTICAL_MATCH_TOLERANCE;
  return [
    ...formatChainReport(report.chain, stateDir),
    '',
    `HbA1c regression over ${secure.n} linked people (secure, across the three sites) beside ordinary least squares on the plaintext join of ${plaintext.n} (computed here only as a check):`,
    `  ${'term'.padEnd(width)}  ${'coefficient'.padStart(13)}  ${'plaintext'.padStart(13)}  ${'std. error'.padStart(13)}  ${'plaintext'.padStart(13)}`,
    ...secure.terms.map((t, i) => `  ${t.padEnd(width)}  ${figure(secure.coefficients[i]!)}  ${figure(plaintext.coefficients[i]!)}  ${figure(secure.standardErrors[i]!)}  ${figure(plaintext.standardErrors[i]!)}`),
    `  ${'R²'.padEnd(width)}  ${figure(secure.r2)}  ${figure(plaintext.r2)}`,
    `${match ? 'Matches' : 'DOES NOT MATCH'} the plaintext fit: largest difference ${report.maxDifference.toExponential(2)} (tolerance ${VERTICAL_MATCH_TOLERANCE}).`,
  ];
}

/** The secure fit must equal OLS on the plaintext join to this (issue 15 asks 1e-6). */
const VERTICAL_MATCH_TOLERANCE = 1e-6;

async function runVertical(options: ReturnType<typeof parseOptions>, io: CommandIo): Promise<number> {
  io.err('Parley demo: vertically partitioned data — a hospital, a lab and a pharmacy, linked privately, then a regression across their columns');
  const { runVerticalDemo } = await import('../../demo/vertical-demo.ts');
  const report = await runVerticalDemo({
    signal: io.signal,
    progress: io.err,
    env: io.env,
    ...(options.stateDir ? { stateDir: options.stateDir } : {}),
  });
  const match = report.maxDifference < VERTICAL_MATCH_TOLERANCE;
  const lines = formatVerticalReport(report, options.stateDir);
  if (!options.json) {
    for (const line of lines) io.out(line);
    return match ? 0 : 1;
  }
  for (const line of lines) io.err(line);
  io.out(toJsonText({
    chain: report.chain.chain,
    chainFile: report.chain.chainFile,
    regression: report.regression,
    plaintext: report.plaintext,
    maxDifference: report.maxDifference,
    match,
    workflowId: report.chain.workflowId,
    sites: report.chain.sites,
    requester: report.chain.requester,
    steps: report.chain.steps.map((step) => ({ step: step.step, org: step.org, totalMs: step.timings.totalMs, containerMs: step.timings.containerMs })),
    runMs: Math.round(report.chain.runMs),
  }));
  return match ? 0 : 1;
}
