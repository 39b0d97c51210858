/**
 * What a secure-sum protocol needs from the workflow that runs it: a way to run one of its steps
 * at a site, and where its step ids go. The standalone secure-sum workflows and the chain
 * workflow each supply their own (sequence numbers, reports, cleanup differ); the protocols
 * themselves — which site runs what, with which inputs, in which order — are written once.
 */
import type { Envelope } from '../../common/envelope.ts';
import type { OrgId } from '../../common/ids.ts';
import type { JsonValue, StepInputEnvelope, StepOutcome } from '../../activities/types.ts';

/** One protocol step at one site. */
export interface ProtocolCall {
  org: OrgId;
  /** The step id, prefix included. */
  step: string;
  /** The protocol's own arguments (role, next, aggregator); the runner adds its common ones. */
  args: { [key: string]: JsonValue };
  inputs: StepInputEnvelope[];
  /** The protocol is done with this site after this step: it may remove its own volume. */
  last: boolean;
}

export type RunProtocolStep = (call: ProtocolCall) => Promise<StepOutcome>;

/** A protocol step that comes next, known before the envelopes it reads exist. */
export interface PreparedCall extends Omit<ProtocolCall, 'inputs'> {
  inputs: Array<Omit<StepInputEnvelope, 'envelope'>>;
}

export interface ProtocolRun {
  /** In protocol order: the ring's order; the additive protocol's first participant aggregates. */
  participants: OrgId[];
  requester: OrgId;
  /** Put before every step id: '' for a standalone secure sum, '<chain step>.' in a chain. */
  stepPrefix: string;
  runStep: RunProtocolStep;
  /**
   * Called as a step starts with the step that follows it (issue 17), so that its site can
   * create that step's container meanwhile. Optional: without it nothing is prepared ahead.
   */
  prepareStep?: (call: PreparedCall) => void;
  /** The protocol will not come back to this site (its last step there was not `last`). */
  onSiteDone?: (org: OrgId) => void;
}

/** The total, sealed for the requester, and where it was sealed. */
export interface ProtocolResult {
  output: Envelope;
  step: string;
  org: OrgId;
}
