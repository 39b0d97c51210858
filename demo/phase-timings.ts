/**
 * When each of a demo's phases began and how long it took, from the demo's start: what the
 * whole-demo benchmark breaks its figure down by (bench/demo-api.bench.ts), so that a phase that
 * grows shows where. Phases overlap (the API's start-up runs beside the Temporal server's); a
 * span's time is wall-clock, its own waiting included.
 */
import { performance } from 'node:perf_hooks';

/** One phase: its start and duration in ms since the demo began. */
export interface PhaseSpan {
  name: string;
  startMs: number;
  ms: number;
}

export interface PhaseTimings {
  /** Times `work` (started now) as the phase `name`; returns its result, failures included. */
  span<T>(name: string, work: () => Promise<T>): Promise<T>;
  /** Records the phase `name` as from `since` (a performance.now() reading) to now. */
  end(name: string, since: number): void;
  /** The phases ended so far, in the order they began. */
  spans(): PhaseSpan[];
}

/** Timings measured from `origin` (performance.now() at the demo's start). */
export function createPhaseTimings(origin = performance.now()): PhaseTimings {
  const ended: PhaseSpan[] = [];
  return {
    async span(name, work) {
      const start = performance.now();
      try {
        return await work();
      } finally {
        ended.push({ name, startMs: start - origin, ms: performance.now() - start });
      }
    },
    end(name, since) {
      ended.push({ name, startMs: since - origin, ms: performance.now() - since });
    },
    spans: () => [...ended].sort((a, b) => a.startMs - b.startMs),
  };
}
