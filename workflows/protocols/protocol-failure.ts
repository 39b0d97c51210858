import { ApplicationFailure } from '@temporalio/workflow';
import type { StepOutcome } from '../../activities/types.ts';
import { ErrorCode } from '../../common/errors.ts';

/** A site's step did something its protocol does not allow: retrying cannot fix it. */
export function protocolFailure(outcome: Pick<StepOutcome, 'step' | 'org'>, what: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(`Step "${outcome.step}" at "${outcome.org}" ${what}.`, ErrorCode.StepProtocol);
}

/** What a step sent, for messages: "2 message(s) and an output". */
export function sentSummary(outcome: StepOutcome): string {
  return `sent ${outcome.envelopes.length} message(s)${outcome.output ? ' and an output' : ''}`;
}
