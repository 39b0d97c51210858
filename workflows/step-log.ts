import { log } from '@temporalio/workflow';
import type { OrgId } from '../common/ids.ts';
import type { StepOutcome, StepTimings } from '../activities/types.ts';
import { SequenceCounter } from './sequence-counter.ts';

export interface StepReport {
  step: string;
  org: string;
  envelopes: number;
  timings: StepTimings;
}

/**
 * The run's bookkeeping after each step: the sender's sequence numbers advance by what it
 * sealed, and a report (ids, counts, timings — never a value) is kept and logged. Every workflow
 * records its steps here, in the order their results reach it, so a replay computes the same.
 */
export class StepLog {
  private readonly seq = new SequenceCounter();
  readonly reports: StepReport[] = [];

  constructor(private readonly runId: string) {}

  /** The sequence number of `org`'s next envelope. */
  nextSeq(org: OrgId): number {
    return this.seq.peek(org);
  }

  record(outcome: StepOutcome): StepReport {
    const sealed = outcome.envelopes.length + (outcome.output ? 1 : 0);
    this.seq.advance(outcome.org, sealed);
    const report = { step: outcome.step, org: outcome.org, envelopes: sealed, timings: outcome.timings };
    this.reports.push(report);
    log.info('step done', { runId: this.runId, step: outcome.step, org: outcome.org, envelopes: sealed, totalMs: outcome.timings.totalMs });
    return report;
  }
}
