/**
 * What `parley audit verify` reports: findings of a closed set of kinds, each naming where in the
 * history it was found, and a timeline of the run's steps for people to read.
 */

/** The kinds of finding; any one makes verification fail. */
export const FindingKind = {
  /** An envelope's outer signature (or shape) does not verify against its sender's published key. */
  Signature: 'signature',
  /** An envelope's run, step, sender or recipients differ from where the history has it. */
  Binding: 'binding',
  /** A sender's sequence numbers have a gap or a repeat, or a step's are not the ones it was given. */
  Sequence: 'sequence',
  /** A step ran another image than it asked for, or one not matched on the site's allow-list. */
  Image: 'image',
  /** A step's attestation is missing, does not verify, or lists other envelopes than it returned. */
  Attestation: 'attestation',
  /** A message's detached body is not the one its envelope names (length or SHA-256): altered or swapped. */
  Body: 'body',
  /** An envelope was consumed that no step of the run produced (or before it was produced). */
  Provenance: 'provenance',
  /** A completed run never delivered an envelope to one of its recipients. */
  Delivery: 'delivery',
  /** Events are missing or out of order, or a step has no outcome. */
  MissingEvent: 'missing-event',
  /** The bundle lacks a public key the history needs, or a step request is unreadable. */
  Unverifiable: 'unverifiable',
} as const;
export type FindingKind = (typeof FindingKind)[keyof typeof FindingKind];

export interface Finding {
  kind: FindingKind;
  workflowId: string;
  /** The history event it was found at, when there is one. */
  eventId?: number;
  step?: string;
  org?: string;
  message: string;
}

/** One envelope a step sent, as the timeline shows it. */
export interface SentEnvelope {
  seq: number;
  from: string;
  to: string[];
  /** The envelope's JSON size in bytes. */
  bytes: number;
  /** For a message whose body travels detached (beside the history): the sealed body's length. */
  bodyBytes?: number;
  /** True for the step's output (sealed for the requester). */
  output: boolean;
}

/** One step in the timeline. */
export interface TimelineStep {
  eventId: number;
  step: string;
  org: string;
  /** The image digest requested, and the image id the site attests it ran (when it attested). */
  image: { name: string; digest: string; ran?: string };
  status: string;
  /** Milliseconds from the workflow's start to the step being scheduled, and the step's duration. */
  atMs?: number;
  durationMs?: number;
  received: Array<{ from: string; seq: number; step: string }>;
  sent: SentEnvelope[];
}

export interface VerifiedHistory {
  workflowId: string;
  runId?: string;
  workflowType?: string;
  events: number;
  startedAt?: string;
  closedAt?: string;
  closedAs?: string;
  timeline: TimelineStep[];
  envelopes: number;
  attestations: number;
}

export interface VerifyReport {
  histories: VerifiedHistory[];
  findings: Finding[];
}
