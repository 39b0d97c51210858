/**
 * What a run's per-step timings say about where its time went: its rounds (the steps that ran in
 * parallel, one per site), the slowest container of each, and their sum — the critical path.
 *
 * A round is every report with the same step id. That is a barrier in all of Parley's workflows:
 * the ring's steps are one site each and strictly sequential, the additive protocol awaits every
 * share before any sum, and a chain step awaits all its sites before a later step starts. So the
 * run cannot end sooner than the sum over rounds of the slowest container, whatever the machines.
 */
import { median, round } from './stats.ts';

/** The part of a step report (workflows' StepReport, common/chain's ChainStepReport) used here. */
export interface TimedStep {
  step: string;
  timings: { containerMs: number; totalMs: number; phases?: Partial<Record<string, number>> };
}

export interface Round {
  step: string;
  sites: number;
  /** The round's slowest container, create to removal. */
  slowestContainerMs: number;
}

/** The run's rounds, in the order their first report reached the workflow. */
export function roundsOf(steps: readonly TimedStep[]): Round[] {
  const rounds = new Map<string, Round>();
  for (const { step, timings } of steps) {
    const r = rounds.get(step) ?? { step, sites: 0, slowestContainerMs: 0 };
    r.sites += 1;
    r.slowestContainerMs = Math.max(r.slowestContainerMs, timings.containerMs);
    rounds.set(step, r);
  }
  return [...rounds.values()];
}

/** One run measured: its wall time and what its step reports add up to. */
export interface TimedRun {
  wallMs: number;
  /** Σ over rounds of the slowest container: what sites on machines of their own would wait for. */
  criticalPathMs: number;
  /** Σ of every container's own time. */
  containerSumMs: number;
  /** Σ of every activity's own time at its site minus its container: opening, sealing, bookkeeping. */
  siteWorkSumMs: number;
  /** Σ over activities of each phase's wall time (the steps' `timings.phases`; empty for steps without). */
  phaseSumsMs: Record<string, number>;
  /** CPU time of the process holding the sites over the run, when measured (all its threads: the sites, the SDK, the coordinator). */
  cpuMs?: number;
  activities: number;
  rounds: Round[];
}

export function timedRun(wallMs: number, steps: readonly TimedStep[], cpuMs?: number): TimedRun {
  const rounds = roundsOf(steps);
  const phaseSumsMs: Record<string, number> = {};
  for (const { timings } of steps) {
    for (const [phase, ms] of Object.entries(timings.phases ?? {})) phaseSumsMs[phase] = (phaseSumsMs[phase] ?? 0) + (ms ?? 0);
  }
  return {
    wallMs,
    criticalPathMs: rounds.reduce((sum, r) => sum + r.slowestContainerMs, 0),
    containerSumMs: steps.reduce((sum, s) => sum + s.timings.containerMs, 0),
    siteWorkSumMs: steps.reduce((sum, s) => sum + (s.timings.totalMs - s.timings.containerMs), 0),
    phaseSumsMs,
    ...(cpuMs === undefined ? {} : { cpuMs }),
    activities: steps.length,
    rounds,
  };
}

/** A median with the spread around it, in ms, rounded for the report. */
export interface Spread {
  medianMs: number;
  minMs: number;
  maxMs: number;
}

export function spreadOf(values: readonly number[]): Spread {
  return { medianMs: round(median([...values]), 1), minMs: round(Math.min(...values), 1), maxMs: round(Math.max(...values), 1) };
}

/** Several runs of the same thing, summarised. */
export interface RunsSummary {
  runs: number;
  rounds: number;
  activities: number;
  wall: Spread;
  criticalPath: Spread;
  containerSum: Spread;
  /**
   * Median over runs of (wall − critical path) / rounds: what each sequential round costs beyond
   * its slowest container — Temporal's task round trips, the sites' opening and sealing, and
   * (when a round has several sites) the skew between its containers' starts.
   */
  overheadPerRoundMs: number;
  /** Median over runs of the mean site-side work per activity beyond its container (wall time). */
  siteWorkPerActivityMs: number;
  /**
   * Per phase of a step (activities/types.ts StepPhase), the median over runs of its mean wall
   * time per activity. Absent in reports kept from before steps measured their phases.
   */
  phasesPerActivityMs?: Record<string, number>;
  /**
   * Median over runs of the process's CPU time per activity, when measured: every thread of the
   * process that holds the sites (their own work, the Temporal SDK's, the coordinator's, the
   * benchmark's), so an upper bound on the sites' own CPU time per activity.
   */
  cpuPerActivityMs?: number;
  wallRunsMs: number[];
  criticalPathRunsMs: number[];
}

/** Summarises runs of one workflow shape; throws a TypeError on none, or runs of different shapes. */
export function summarise(runs: readonly TimedRun[]): RunsSummary {
  const first = runs[0];
  if (!first) throw new TypeError('summarise needs at least one run');
  if (runs.some((r) => r.rounds.length !== first.rounds.length || r.activities !== first.activities)) {
    throw new TypeError('summarise was given runs of different shapes');
  }
  return {
    runs: runs.length,
    rounds: first.rounds.length,
    activities: first.activities,
    wall: spreadOf(runs.map((r) => r.wallMs)),
    criticalPath: spreadOf(runs.map((r) => r.criticalPathMs)),
    containerSum: spreadOf(runs.map((r) => r.containerSumMs)),
    overheadPerRoundMs: round(median(runs.map((r) => (r.wallMs - r.criticalPathMs) / r.rounds.length)), 1),
    siteWorkPerActivityMs: round(median(runs.map((r) => r.siteWorkSumMs / r.activities)), 1),
    phasesPerActivityMs: Object.fromEntries([...new Set(runs.flatMap((r) => Object.keys(r.phaseSumsMs)))].map((phase) => [phase, round(median(runs.map((r) => (r.phaseSumsMs[phase] ?? 0) / r.activities)), 1)])),
    ...(runs.every((r) => r.cpuMs !== undefined) ? { cpuPerActivityMs: round(median(runs.map((r) => r.cpuMs! / r.activities)), 1) } : {}),
    wallRunsMs: runs.map((r) => round(r.wallMs, 1)),
    criticalPathRunsMs: runs.map((r) => round(r.criticalPathMs, 1)),
  };
}
