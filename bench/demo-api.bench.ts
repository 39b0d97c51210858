/**
 * The demo end to end with the Parley API in the path (registration, run start, status and
 * sealed result through HTTP; keys fetched and pinned from the API) and without it (straight to
 * Temporal, keys from a shared directory). Goal: the API adds at most 5% to the run's time,
 * from its start to the opened result, and at most half to the whole demo.
 *
 * The whole demo is measured twice: in this process (from runDemo's start to the opened result,
 * as before issue 17's last changes), and as a user runs it — each demo a process of its own
 * (bench/demo-process.ts), timed from its spawn to its exit: Node's start, the imports, PGlite's
 * WebAssembly compiled afresh, the clean-up. Each figure comes with the median of every phase
 * (demo/phase-timings.ts).
 */
import { spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { runDemo } from '../demo/run-demo.ts';
import type { PhaseSpan } from '../demo/phase-timings.ts';
import { median, round } from './stats.ts';

/** A phase's median start and duration over the runs, in ms since the demo began. */
export type PhaseMedians = Record<string, { startMs: number; ms: number }>;

export interface DemoApiBench {
  name: string;
  sites: number;
  runs: number;
  /** Median time from starting the run to the opened result. */
  viaApiRunMedianMs: number;
  directRunMedianMs: number;
  ratio: number;
  goalRatio: number;
  /** Median of the whole demo, provisioning checks, dev server and API start included. */
  viaApiTotalMedianMs: number;
  directTotalMedianMs: number;
  totalRatio: number;
  viaApiRunsMs: number[];
  directRunsMs: number[];
  viaApiTotalsMs: number[];
  directTotalsMs: number[];
  /** Each phase in this process (medians). */
  viaApiPhases: PhaseMedians;
  directPhases: PhaseMedians;
  /** The whole demo as a user runs it: a process of its own, from its spawn to its exit (medians). */
  viaApiProcessMedianMs: number;
  directProcessMedianMs: number;
  processRatio: number;
  goalProcessRatio: number;
  viaApiProcessesMs: number[];
  directProcessesMs: number[];
  /** In those processes: when the imports were done, and each phase (medians). */
  viaApiProcessPhases: PhaseMedians;
  directProcessPhases: PhaseMedians;
}

const DEMO_PROCESS = fileURLToPath(new URL('./demo-process.ts', import.meta.url));

interface ProcessRun {
  wallMs: number;
  importedMs: number;
  phases: PhaseSpan[];
}

/** Runs one demo in a process of its own (bench/demo-process.ts); throws when it fails. */
function demoProcess(viaApi: boolean): Promise<ProcessRun> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, ['--import', 'tsx', DEMO_PROCESS, viaApi ? 'api' : 'direct'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString('utf8')));
    child.once('error', reject);
    child.once('exit', (code) => {
      const wallMs = performance.now() - started;
      if (code !== 0) return reject(new Error(`the demo process ${viaApi ? 'through the API' : 'without the API'} exited with ${code}: ${err.split('\n').slice(-5).join('\n')}`));
      const line = JSON.parse(out.trim().split('\n').at(-1)!) as { importedMs: number; phases: PhaseSpan[] };
      resolve({ wallMs, importedMs: line.importedMs, phases: line.phases });
    });
  });
}

/** Each phase's median start and duration over the runs; with `importedMs`, the imports' end as `imports`. */
function phaseMedians(runs: PhaseSpan[][], importedMs?: number[]): PhaseMedians {
  const medians: PhaseMedians = importedMs ? { imports: { startMs: 0, ms: round(median(importedMs), 0) } } : {};
  for (const name of new Set(runs.flatMap((phases) => phases.map((p) => p.name)))) {
    const spans = runs.flatMap((phases) => phases.filter((p) => p.name === name));
    medians[name] = { startMs: round(median(spans.map((p) => p.startMs)), 0), ms: round(median(spans.map((p) => p.ms)), 0) };
  }
  return medians;
}

/** Runs the demo `runs` times each way, alternating; throws if any demo fails or sums wrong. */
export async function benchDemoApi(options: { runs: number; sites?: number; log: (line: string) => void }): Promise<DemoApiBench> {
  const sites = options.sites ?? 3;
  const once = async (viaApi: boolean) => {
    const counts = Array.from({ length: sites }, () => BigInt(randomInt(0, 1_000_000)));
    const report = await runDemo({ counts, viaApi });
    if (report.result !== report.plainSum) throw new Error(`the demo ${viaApi ? 'through the API' : 'without the API'} gave ${report.result}, expected ${report.plainSum}`);
    return { runMs: report.runMs, totalMs: report.totalMs, phases: report.phases };
  };
  // One warm-up each (page cache, image ids, JIT), then alternate, swapping which goes first
  // every round, so drift in the machine's load and any order effect hit both alike.
  await once(true);
  await once(false);
  const viaApi: Array<{ runMs: number; totalMs: number; phases: PhaseSpan[] }> = [];
  const direct: Array<{ runMs: number; totalMs: number; phases: PhaseSpan[] }> = [];
  for (let i = 0; i < options.runs; i++) {
    if (i % 2 === 0) {
      viaApi.push(await once(true));
      direct.push(await once(false));
    } else {
      direct.push(await once(false));
      viaApi.push(await once(true));
    }
    options.log(`  demo run ${i + 1}/${options.runs}: run ${Math.round(viaApi.at(-1)!.runMs)} ms via the API, ${Math.round(direct.at(-1)!.runMs)} ms without; total ${Math.round(viaApi.at(-1)!.totalMs)} / ${Math.round(direct.at(-1)!.totalMs)} ms`);
  }
  const viaApiRun = median(viaApi.map((r) => r.runMs));
  const directRun = median(direct.map((r) => r.runMs));
  const viaApiTotal = median(viaApi.map((r) => r.totalMs));
  const directTotal = median(direct.map((r) => r.totalMs));

  // The whole demo as a user runs it, alternating in the same way (a warm-up each for the page
  // cache and the engine's image cache; nothing else carries over between processes).
  await demoProcess(true);
  await demoProcess(false);
  const viaApiProcesses: ProcessRun[] = [];
  const directProcesses: ProcessRun[] = [];
  for (let i = 0; i < options.runs; i++) {
    const order = i % 2 === 0 ? [true, false] : [false, true];
    for (const through of order) (through ? viaApiProcesses : directProcesses).push(await demoProcess(through));
    options.log(`  demo process ${i + 1}/${options.runs}: ${Math.round(viaApiProcesses.at(-1)!.wallMs)} ms via the API, ${Math.round(directProcesses.at(-1)!.wallMs)} ms without`);
  }
  const viaApiProcess = median(viaApiProcesses.map((r) => r.wallMs));
  const directProcess = median(directProcesses.map((r) => r.wallMs));
  return {
    name: `demo, ${sites} sites, with vs without the API`,
    sites,
    runs: options.runs,
    viaApiRunMedianMs: round(viaApiRun, 1),
    directRunMedianMs: round(directRun, 1),
    ratio: round(viaApiRun / directRun, 3),
    goalRatio: 1.05,
    viaApiTotalMedianMs: round(viaApiTotal, 1),
    directTotalMedianMs: round(directTotal, 1),
    totalRatio: round(viaApiTotal / directTotal, 3),
    viaApiRunsMs: viaApi.map((r) => round(r.runMs, 1)),
    directRunsMs: direct.map((r) => round(r.runMs, 1)),
    viaApiTotalsMs: viaApi.map((r) => round(r.totalMs, 1)),
    directTotalsMs: direct.map((r) => round(r.totalMs, 1)),
    viaApiPhases: phaseMedians(viaApi.map((r) => r.phases)),
    directPhases: phaseMedians(direct.map((r) => r.phases)),
    viaApiProcessMedianMs: round(viaApiProcess, 1),
    directProcessMedianMs: round(directProcess, 1),
    processRatio: round(viaApiProcess / directProcess, 3),
    goalProcessRatio: 1.5,
    viaApiProcessesMs: viaApiProcesses.map((r) => round(r.wallMs, 1)),
    directProcessesMs: directProcesses.map((r) => round(r.wallMs, 1)),
    viaApiProcessPhases: phaseMedians(viaApiProcesses.map((r) => r.phases), viaApiProcesses.map((r) => r.importedMs)),
    directProcessPhases: phaseMedians(directProcesses.map((r) => r.phases), directProcesses.map((r) => r.importedMs)),
  };
}
