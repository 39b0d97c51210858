/**
 * The markdown for the benchmarks measured against their critical path (the secure-sum protocols
 * and the example chain): a row each for bench/run.ts's summary table, and a section each that
 * says what was measured, what was derived, and why the two differ on one machine.
 */
import type { ChainBench } from './chain.bench.ts';
import type { ProtocolsAtSites, ProtocolsBench } from './secure-sum-protocols.bench.ts';
import type { FailedRun } from './failed-runs.ts';
import type { Leftovers } from './run-leftovers.ts';
import type { RunsSummary, Spread } from './step-rounds.ts';

const ms = (s: Spread) => `${s.medianMs} ms (${s.minMs}–${s.maxMs})`;
const goal = (ok: boolean) => (ok ? '✓' : '✗');

/** The machine's load, failed runs and swept leftovers, said plainly. */
function incidents(load: { start: number; end: number }, failed: readonly FailedRun[], leftovers: Leftovers): string[] {
  return [
    `The machine's 1-minute load average was ${load.start} when this benchmark started and ${load.end} when it ended (other engineers' tests and builds share the machine).`,
    '',
    ...(failed.length > 0
      ? [`${failed.length} run(s) failed, were not timed and were run again: ${failed.map((f) => `${f.what} (${f.runId}): ${f.reason}`).join('; ')}.`, '']
      : []),
    ...(leftovers.containers + leftovers.volumes > 0
      ? [`After the runs, ${leftovers.containers} containers and ${leftovers.volumes} volumes were left and removed by the benchmark.`, '']
      : []),
  ];
}

function atGoal(bench: ProtocolsBench): ProtocolsAtSites | undefined {
  return bench.results.find((r) => r.sites === bench.goal.sites);
}

/** The summary table's rows: the goal's site count, measured and (labelled) derived. */
export function protocolsRows(bench: ProtocolsBench, mark: string): string[] {
  const r = atGoal(bench);
  if (!r) return [];
  const name = `secure sum, ${r.sites} sites, additive vs ring`;
  const cell = (s: RunsSummary | undefined, pick: (s: RunsSummary) => Spread) => (s ? `${pick(s).medianMs} ms` : 'failed');
  const ratio = (v: number | undefined) => (v === undefined ? `— | ≤ ${bench.goal.ratio} (not measured)` : `${v} | ≤ ${bench.goal.ratio} ${goal(v <= bench.goal.ratio)}`);
  const runs = r.additive?.runs ?? r.ring?.runs ?? 0;
  return [
    `| ${name}: start to sealed result (median of ${runs})${mark} | ${cell(r.additive, (s) => s.wall)} | ${cell(r.ring, (s) => s.wall)} (ring) | ${ratio(r.wallRatio)} |`,
    `| ${name}: critical path, derived (Σ of each round's slowest container)${mark} | ${cell(r.additive, (s) => s.criticalPath)} | ${cell(r.ring, (s) => s.criticalPath)} (ring) | ${ratio(r.criticalPathRatio)} |`,
  ];
}

/** Phases that wait for the Docker engine rather than the site's own work: the run volume's creation, the run's end (container and volume removal). */
const ENGINE_PHASES = ['volume', 'end'];

/** The steps' own work beyond the container, split: the engine's calls, and the rest. */
function ownWork(s: RunsSummary): { engineMs: number; restMs: number } {
  // Reports kept from before issue 17 measured phases have none.
  const engineMs = ENGINE_PHASES.reduce((sum, p) => sum + (s.phasesPerActivityMs?.[p] ?? 0), 0);
  return { engineMs: Math.round(engineMs * 10) / 10, restMs: Math.round((s.siteWorkPerActivityMs - engineMs) * 10) / 10 };
}

/** The summary table's row for issue 17's goal: the additive sites' own work per step. */
export function siteWorkRow(bench: ProtocolsBench, mark: string): string[] {
  const g = bench.siteWorkGoal;
  const r = g && bench.results.find((x) => x.sites === g.sites);
  if (!g || !r?.additive) return [];
  const a = r.additive;
  const { engineMs, restMs } = ownWork(a);
  const cpu = a.cpuPerActivityMs === undefined ? '' : bench.sitesIn === 'a process each'
    ? `; the site's process's CPU ${a.cpuPerActivityMs} ms per step (its own work, the SDK's threads, answering its container)`
    : `; the process's CPU ${a.cpuPerActivityMs} ms per step (all sites, the SDK, the coordinator)`;
  return [`| the sites' own work per step beyond the container, additive secure sum, ${g.sites} sites (wall, median of ${a.runs})${mark} | ${a.siteWorkPerActivityMs} ms (Docker engine calls ${engineMs} ms, the rest ${restMs} ms${cpu}) | — | — | ≤ ${g.ms} ms ${goal(a.siteWorkPerActivityMs <= g.ms)} |`];
}

/** Per protocol and site count, the mean wall time per step of each phase (activities/types.ts StepPhase). */
function phasesTable(bench: ProtocolsBench): string[] {
  const rows = bench.results.flatMap((x) => (['ring', 'additive'] as const).flatMap((p) => (x[p] ? [{ sites: x.sites, protocol: p, s: x[p]! }] : [])));
  const phases = [...new Set(rows.flatMap((r) => Object.keys(r.s.phasesPerActivityMs ?? {})))].filter((p) => p !== 'container');
  if (rows.length === 0 || phases.length === 0) return [];
  return [
    `Where a step's own time goes (wall ms per step, mean over the run's steps, median over runs; \`steps[].timings.phases\`). Own work is each step's total less its container (create to exit); the phases \`${ENGINE_PHASES.join('` and `')}\` wait for the Docker engine, which every site shares here. Wall time on a shared 2-core machine includes the other sites' work meanwhile. ${bench.sitesIn === 'a process each'
      ? 'Each site worker ran in a process of its own, as deployed; CPU per step is the site\'s process over the step (its own work, the SDK\'s threads, answering the container\'s socket).'
      : 'All the sites ran in one process; its CPU per step (every thread of that process: all the sites, the SDK and the coordinator) bounds the sites\' own CPU from above.'}`,
    '',
    `| sites | protocol | own work | ${phases.join(' | ')} | CPU per step |`,
    `| --- | --- | --- | ${phases.map(() => '---').join(' | ')} | --- |`,
    ...rows.map((r) => `| ${r.sites} | ${r.protocol} | ${r.s.siteWorkPerActivityMs} | ${phases.map((p) => r.s.phasesPerActivityMs?.[p] ?? '—').join(' | ')} | ${r.s.cpuPerActivityMs ?? '—'} |`),
    '',
  ];
}

export function chainRow(bench: ChainBench, mark: string): string {
  const s = bench.summary;
  return `| ${bench.name}: start to sealed result vs critical path (median of ${s.runs})${mark} | ${s.wall.medianMs} ms | ${s.criticalPath.medianMs} ms (Σ of each round's slowest container) | ${bench.wallOverCriticalPath} | — |`;
}

export function protocolsMarkdown(bench: ProtocolsBench, mark: string): string[] {
  const r = atGoal(bench);
  const runs = bench.results.find((x) => x.ring ?? x.additive);
  const fig = (s: RunsSummary | undefined) => (s ? [`${s.rounds}`, ms(s.wall), ms(s.criticalPath)] : ['—', 'failed', 'failed']);
  const both = bench.results.filter((x) => x.ring && x.additive);
  const heartbeats = bench.failedRuns.some((f) => /heartbeat/i.test(f.reason));
  return [
    `## Secure sum: additive vs ring${mark}`,
    '',
    `Wall time from the workflow's start to its sealed result, median (min–max) of ${(runs?.ring ?? runs?.additive)?.runs ?? 0} runs each, the two protocols alternated after one warm-up each. The **critical path is derived, not measured**: the sum over the run's rounds of the slowest container in each (\`steps[].timings.containerMs\`, create to removal) — what the run would wait for with every site on a machine of its own.`,
    '',
    '| sites | ring: rounds | ring: wall | ring: critical path | additive: rounds | additive: wall | additive: critical path | additive/ring, wall | additive/ring, critical path (derived) |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...bench.results.map((x) => `| ${x.sites} | ${[...fig(x.ring), ...fig(x.additive)].join(' | ')} | ${x.wallRatio ?? '—'} | ${x.criticalPathRatio ?? '—'} |`),
    '',
    ...(r
      ? [r.wallRatio !== undefined && r.criticalPathRatio !== undefined
          ? `Goal: additive at ${r.sites} sites in ≤ ${bench.goal.ratio}× the ring's wall time. Measured on this machine: **${r.wallRatio}** ${goal(r.wallRatio <= bench.goal.ratio)}. On the critical path (derived): **${r.criticalPathRatio}** ${goal(r.criticalPathRatio <= bench.goal.ratio)}.`
          : `Goal: additive at ${r.sites} sites in ≤ ${bench.goal.ratio}× the ring's wall time. **Not measured this time**: the ${r.additive ? 'ring' : 'additive'} runs at ${r.sites} sites failed (below).`, '']
      : []),
    ...(both.length > 0
      ? [`Parley's cost per round beyond its slowest container ((wall − critical path) / rounds, median): ${both.map((x) => `${x.sites} sites: ring ${x.ring!.overheadPerRoundMs} ms, additive ${x.additive!.overheadPerRoundMs} ms`).join('; ')}. The sites' own work per step beyond the container (opening, sealing): ${both.map((x) => `${x.sites} sites: ring ${x.ring!.siteWorkPerActivityMs} ms, additive ${x.additive!.siteWorkPerActivityMs} ms`).join('; ')}.`, '']
      : []),
    ...phasesTable(bench),
    'Why the measured ratio is not the protocol\'s: the ring runs n + 1 containers one after another, the additive protocol 2n + 1 in three rounds whose containers run in parallel. Here every site shares one machine\'s cores and its one Docker engine, so a round\'s parallel containers queue for the same CPUs and the same engine, and the additive protocol does about twice the ring\'s container work. On separate machines each round would take about its slowest container. The derived figure is conservative for the additive protocol: its containers\' own times were measured while competing with each other (a round\'s slowest container is slower here than alone), and Parley\'s per-round cost, paid n + 1 times by the ring and 3 times by the additive protocol, is left out of both. On a saturated machine it stays close to the measured ratio: it takes out Parley\'s per-round cost and the skew between starts, not the sharing of the cores. Other engineers\' work shares this machine, so all figures are noisy.',
    '',
    ...(heartbeats
      ? ['Why runs failed with a heartbeat timeout: a step heartbeats only once its container is running (activities/sandbox/run-container.ts), and the site-activity timeout allows 5 s between heartbeats (workflows/site-activity-stubs.ts). When a round starts many containers at once on a loaded machine, a step can wait longer than that at the one Docker engine before its first heartbeat; Temporal then times it out and retries it while the first attempt is still running. Those are Parley\'s limits, not the benchmark\'s.', '']
      : []),
    ...incidents(bench.loadAverage, bench.failedRuns, bench.leftoversRemoved),
  ];
}

export function chainMarkdown(bench: ChainBench, mark: string): string[] {
  const s = bench.summary;
  return [
    `## ${bench.name}${mark}`,
    '',
    `examples/chains/cohort-mean.yaml (preprocess → analyse → ${bench.protocol} secure sum) over ${bench.sites} sites, each with its own example registry; median (min–max) of ${s.runs} runs after one warm-up. ${s.activities} site steps in ${s.rounds} rounds; a round is one step id run at its sites in parallel, and the next waits for all of them.`,
    '',
    `| | median (min–max) |`,
    '| --- | --- |',
    `| wall time, start to sealed result | ${ms(s.wall)} |`,
    `| Σ of every container's own time (create to removal) | ${ms(s.containerSum)} |`,
    `| critical path, derived: Σ over rounds of the slowest container | ${ms(s.criticalPath)} |`,
    `| wall / Σ containers | ${bench.wallOverContainerSum} |`,
    `| wall / critical path | ${bench.wallOverCriticalPath} |`,
    `| Parley's overhead per round: (wall − critical path) / ${s.rounds} | ${s.overheadPerRoundMs} ms |`,
    `| the site's own work per step beyond its container (opening, sealing; part of the overhead) | ${s.siteWorkPerActivityMs} ms |`,
    '',
    '| round | sites | slowest container (median) |',
    '| --- | --- | --- |',
    ...bench.rounds.map((r) => `| ${r.step} | ${r.sites} | ${r.slowestContainerMedianMs} ms |`),
    '',
    'On one machine the three sites\' containers of a round compete for 2 cores, so a round\'s slowest container is slower than it would be alone, and Σ containers can exceed the wall time. The overhead per round is what Parley adds on the path: Temporal\'s workflow-task and activity round trips, the sites\' opening and sealing, and the skew between a round\'s container starts.',
    '',
    ...incidents(bench.loadAverage, bench.failedRuns, bench.leftoversRemoved),
  ];
}
