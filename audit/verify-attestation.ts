/**
 * Checks a step's attestation (common/attestation.ts) against the step's request in the same
 * history: signed by the site that ran it, for this run, step and site; the image it ran is the
 * one requested, matched on its allow-list; the envelopes it sealed are those the step returned.
 */
import type { JWK } from 'jose';
import { allowListEntryDigest, verifyStepAttestation } from '../crypto/index.ts';
import { FindingKind, type Finding } from './verify-findings.ts';

export interface AttestedStep {
  workflowId: string;
  eventId: number;
  runId: string;
  step: string;
  org: string;
  image: { name: string; digest: string };
  /** Digests of the envelopes the outcome returned, in order, the output last. */
  returned: string[];
}

/** The findings about one step's attestation, and the image id it attests to have run. */
export async function checkAttestation(attestation: unknown, step: AttestedStep, siteKey: JWK | undefined): Promise<{ findings: Finding[]; ran?: string }> {
  const at = { workflowId: step.workflowId, eventId: step.eventId, step: step.step, org: step.org };
  if (siteKey === undefined) {
    return { findings: [{ kind: FindingKind.Unverifiable, ...at, message: `the bundle has no public key for "${step.org}", so its attestation cannot be checked` }] };
  }
  const verdict = await verifyStepAttestation(attestation, siteKey);
  if (!verdict.ok) return { findings: [{ kind: FindingKind.Attestation, ...at, message: `the step's attestation is refused: ${verdict.problem}` }] };
  const claims = verdict.claims;
  const findings: Finding[] = [];
  const add = (kind: FindingKind, message: string) => findings.push({ kind, ...at, message });
  if (claims.runId !== step.runId || claims.step !== step.step || claims.org !== step.org) {
    add(FindingKind.Attestation, `the attestation is for run "${claims.runId}" step "${claims.step}" at "${claims.org}", not this step`);
  }
  if (claims.image.name !== step.image.name || claims.image.digest !== step.image.digest) {
    add(FindingKind.Image, `the site attests image ${claims.image.name}@${claims.image.digest}, but the step asked for ${step.image.name}@${step.image.digest}`);
  }
  if (claims.ran !== step.image.digest) {
    add(FindingKind.Image, `the site attests it ran image ${claims.ran}, not the digest ${step.image.digest} the step asked for`);
  }
  if (claims.allowListEntry !== allowListEntryDigest(step.image)) {
    add(FindingKind.Image, 'the allow-list entry the site attests is not the one for the image the step asked for');
  }
  if (claims.sealed.length !== step.returned.length || claims.sealed.some((d, i) => d !== step.returned[i])) {
    add(FindingKind.Attestation, `the site attests ${claims.sealed.length} sealed envelope(s) that differ from the ${step.returned.length} the step returned in the history`);
  }
  return { findings, ran: claims.ran };
}
