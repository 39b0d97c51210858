/**
 * Where a step's own time goes (issue 17): the wall time of each phase of a step at its site,
 * measured back to back so that the phases add up to the step's total, and the process's CPU
 * time over the step beside it.
 *
 * Wall time is what the step waited for; on a machine whose sites share cores (the one-machine
 * setup runs every site in one process) it includes the other sites' work done meanwhile, so the
 * CPU time is reported too: in a process of its own (a deployment: one worker per organisation)
 * it is the site's own work, and in a shared process an upper bound on it.
 */
import { performance } from 'node:perf_hooks';
import type { StepPhase, StepPhases } from './types.ts';

export class StepClock {
  readonly started = performance.now();
  readonly #cpuStarted = process.cpuUsage();
  readonly #phases: StepPhases = {};
  #last = this.started;

  /** Ends the current phase as `phase` (phases of one name add up). */
  lap(phase: StepPhase): void {
    const now = performance.now();
    this.#phases[phase] = (this.#phases[phase] ?? 0) + (now - this.#last);
    this.#last = now;
  }

  /** Milliseconds since `mark` (a performance.now() reading). */
  since(mark: number): number {
    return performance.now() - mark;
  }

  /** The phases so far in whole milliseconds, and the process's CPU time since the step began. */
  report(): { phases: StepPhases; cpuMs: number } {
    const phases: StepPhases = {};
    for (const [phase, ms] of Object.entries(this.#phases) as Array<[StepPhase, number]>) phases[phase] = Math.round(ms);
    const cpu = process.cpuUsage(this.#cpuStarted);
    return { phases, cpuMs: Math.round((cpu.user + cpu.system) / 1000) };
  }
}
