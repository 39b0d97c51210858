/**
 * A site's statement of what it ran at a step, signed with its signing key (crypto/step-
 * attestation.ts) and returned in the step's outcome, so the run's history records it. An auditor
 * checks it against the step's request in the same history: the image asked for is the image that
 * ran, it was on the site's allow-list, and the envelopes the step returned are those the site
 * sealed — with the site's public key only.
 */
import type { OrgId } from './ids.ts';

/** What a site attests about one step. */
export interface StepAttestationClaims {
  runId: string;
  step: string;
  org: OrgId;
  /** The image as requested and matched on the site's allow-list: name and content digest. */
  image: { name: string; digest: string };
  /** The image id the site actually started (equal to `image.digest` unless that is a registry digest). */
  ran: string;
  /** SHA-256 (base64url) of the canonical JSON of the allow-list entry the image matched. */
  allowListEntry: string;
  /** envelopeDigest of each envelope the step sealed, in the order returned, the output last. */
  sealed: string[];
  /** Seconds since the epoch at signing. Informational. */
  iat: number;
}
