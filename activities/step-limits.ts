/**
 * What one step may send from a site, set by its operator in site.yaml (`limits.stepSendBytes`,
 * `limits.stepMessages`). Past either, the step fails at once with a code of its own naming the
 * limit and the setting — before anything of it is sealed, so nothing of it leaves the site, and
 * never as a timeout of a payload Temporal refused.
 */
import { ErrorCode, ParleyError } from '../common/errors.ts';
import type { OrgId } from '../common/ids.ts';
import type { SendLimit } from './sandbox/node-socket.ts';

export interface StepSendLimits {
  /** Bytes of message content (JSON) one step may send in all; also the largest one message. */
  sendBytes: number;
  /** Messages one step may send. */
  messages: number;
}

/** 1 GiB and 10,000 messages: a model exchange or a linkage fits; a runaway loop does not. */
export const DEFAULT_STEP_SEND_LIMITS: StepSendLimits = { sendBytes: 1024 ** 3, messages: 10_000 };

/** The failure of a step that went past `exceeded`. */
export function stepLimitError(ids: { runId: string; step: string; org: OrgId }, exceeded: SendLimit): ParleyError {
  const { step, org } = ids;
  if (exceeded.limit === 'messages') {
    return new ParleyError(
      ErrorCode.StepMessagesLimit,
      `Step "${step}" at site "${org}" tried to send more than ${exceeded.max} messages, the most site "${org}" lets one step send (limits.stepMessages in its site.yaml). Nothing of the step was sent. Send fewer, larger messages, or ask ${org}'s operator to raise limits.stepMessages.`,
      { ...ids, limit: 'limits.stepMessages', max: exceeded.max },
    );
  }
  return new ParleyError(
    ErrorCode.StepBytesLimit,
    `Step "${step}" at site "${org}" tried to send more than ${exceeded.max} bytes of messages, the most site "${org}" lets one step send (limits.stepSendBytes in its site.yaml). Nothing of the step was sent. Send less, or ask ${org}'s operator to raise limits.stepSendBytes.`,
    { ...ids, limit: 'limits.stepSendBytes', max: exceeded.max },
  );
}
