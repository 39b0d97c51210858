/**
 * crypto/: organisations' key pairs, their thumbprints, and the envelope every message between
 * sites travels in (a sender-signed compact JWS inside a JWE for its recipients). Pure functions
 * over jose; no file, network or environment access.
 */
export { generateOrgKeys, parseOrgKeys, parseOrgPublicKeys, publicKeysOf } from './org-keys.ts';
export type { KeyPair, OrgKeys, OrgPublicKeys, PrivateJwk, PublicJwk, PublishedKey } from './org-keys.ts';
export { fingerprint, isThumbprint, jwkThumbprint, jwkThumbprintSync } from './thumbprint.ts';
export { sealEnvelope } from './seal-envelope.ts';
export type { SealInput, SealRecipient, SealSender, SealedBlobBody } from './seal-envelope.ts';
export { openEnvelope } from './open-envelope.ts';
export type { OpenExpectation, OpenOptions, OpenedDetachedBody, OpenedEnvelope } from './open-envelope.ts';
export { BodyStreamError, newFileKey, openBodyStream, sealBodyStream, sealedBodyLength } from './body-stream.ts';
export { openDetachedBody } from './open-detached-body.ts';
export { inspectEnvelope } from './inspect-envelope.ts';
export { verifyEnvelopeSignature } from './verify-envelope.ts';
export type { EnvelopeInfo } from './inspect-envelope.ts';
export { TAMPERED_MESSAGE, replayedError } from './envelope-format.ts';
export type { TamperReason } from './envelope-format.ts';
export { createMemoryReplayGuard, envelopeDigest } from './replay-guard.ts';
export type { MemoryReplayGuard, ReplayGuard } from './replay-guard.ts';
export { allowListEntryDigest, signStepAttestation, verifyStepAttestation } from './step-attestation.ts';
export type { AttestationVerdict } from './step-attestation.ts';
export { openForSelf, sealForSelf } from './seal-for-self.ts';
export { manifestProblem, readRunManifest, signRunManifest, verifyRunManifest } from './run-manifest.ts';
export { canonicalJson } from './canonical-json.ts';
export { ENROLMENT_TTL_SECONDS, signSiteEnrolment, verifySiteEnrolment } from './site-enrolment.ts';
export type { EnrolmentVerdict, SiteEnrolmentClaims } from './site-enrolment.ts';
export { nextTurnIfLarge } from './next-turn.ts';
