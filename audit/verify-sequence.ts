/**
 * Sequence numbers per sender within a run: each sender numbers its envelopes from 0 without gaps
 * (DESIGN.md "Keys and envelopes"). A repeat is two envelopes under one number — a replay, or a
 * message swapped in — and a gap is an envelope that should be in the history and is not.
 */
import type { EnvelopeBinding } from '../common/envelope.ts';
import { FindingKind, type Finding } from './verify-findings.ts';

/** Findings about the sequence numbers of the envelopes a run's steps returned. */
export function checkSequences(workflowId: string, sent: Array<{ binding: EnvelopeBinding; eventId: number }>): Finding[] {
  const findings: Finding[] = [];
  const bySender = new Map<string, Map<number, number[]>>();
  for (const { binding, eventId } of sent) {
    const seqs = bySender.get(binding.from) ?? new Map<number, number[]>();
    bySender.set(binding.from, seqs);
    seqs.set(binding.seq, [...(seqs.get(binding.seq) ?? []), eventId]);
  }
  for (const [from, seqs] of [...bySender].sort(([a], [b]) => (a < b ? -1 : 1))) {
    for (const [seq, events] of seqs) {
      if (events.length > 1) {
        findings.push({ kind: FindingKind.Sequence, workflowId, eventId: events[1]!, org: from, message: `"${from}" used seq ${seq} for ${events.length} different envelopes (events ${events.join(', ')}): a replay or a substituted message` });
      }
    }
    const max = Math.max(...seqs.keys());
    const missing: number[] = [];
    for (let seq = 0; seq <= max; seq++) if (!seqs.has(seq)) missing.push(seq);
    if (missing.length > 0) {
      findings.push({ kind: FindingKind.Sequence, workflowId, org: from, message: `"${from}"'s envelopes skip seq ${missing.join(', ')}: ${missing.length === 1 ? 'an envelope is' : 'envelopes are'} missing from the history` });
    }
  }
  return findings;
}
