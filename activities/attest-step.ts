/**
 * What a site signs about a step it ran (common/attestation.ts): the image it matched on its
 * allow-list and the image id it started, and the digests of the envelopes it sealed. Returned in
 * the step's outcome, so the run's history holds it for `parley audit verify`.
 */
import { allowListEntryDigest, signStepAttestation, type OrgKeys } from '../crypto/index.ts';
import type { ImageRef, StepRequest } from './types.ts';

/**
 * The site's signed attestation for `request`, run as `imageId`, having sealed the envelopes
 * whose envelopeDigest is `sealed` (in the order returned, the output last; a blob's digest is
 * its envelope's). `allowed` is the allow-list entry the
 * request matched (assertAllowed requires an entry equal to `request.image` by name and digest).
 */
export function attestStep(keys: OrgKeys, request: StepRequest, allowed: ImageRef, imageId: string, sealed: string[]): Promise<string> {
  return signStepAttestation(
    {
      runId: request.runId,
      step: request.step,
      org: keys.org,
      image: { name: allowed.name, digest: allowed.digest },
      ran: imageId,
      allowListEntry: allowListEntryDigest(allowed),
      sealed,
      iat: Math.floor(Date.now() / 1000),
    },
    keys.sign.privateJwk,
  );
}
