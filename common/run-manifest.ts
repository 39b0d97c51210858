/**
 * The run manifest: what a researcher's organisation signs when it starts a run, and what every
 * site checks each step it is asked to run against. The central parts (the API, the coordinator,
 * the Temporal cluster) carry it but cannot change it, so a site takes only the signed word of
 * the requester, never theirs, for what the run is: who asked, in which collaboration, with whom,
 * and exactly which images run on which datasets with which arguments, and who receives what.
 *
 * Types and patterns only (the workflow bundle imports this file); signing and checking live in
 * crypto/run-manifest.ts, the site's checks in activities/check-step.ts.
 */
import type { ChainSpec, PinnedImage, SecureSumProtocol } from './chain.ts';
import type { OrgId } from './ids.ts';

/** The manifest format; a site refuses any other. */
export const MANIFEST_VERSION = 1;

/** `typ` of the manifest's JWS: no other JWS by the same key is taken for one. */
export const MANIFEST_TYPE = 'parley+manifest';

/** How long a signed manifest may be started for, by default: a day. */
export const DEFAULT_MANIFEST_LIFETIME_MS = 24 * 60 * 60 * 1000;

/** A collaboration's id as a site names it in site.yaml and the API returns it: a slug or a UUID. */
export const COLLABORATION_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** What the run computes: a chain, or a standalone secure sum over one dataset. */
export type RunPlan =
  | { kind: 'chain'; chain: ChainSpec; stepTimeoutMs?: number }
  | {
    kind: 'secure-sum';
    protocol: SecureSumProtocol;
    /** The dataset every site reads its value from. */
    dataset: string;
    /** Public modulus, decimal. */
    modulus: string;
    image: PinnedImage;
    stepTimeoutMs?: number;
  };

/** The signed claims. Times are ISO 8601 (UTC). */
export interface RunManifest {
  v: typeof MANIFEST_VERSION;
  /** The workflow id the run must have. */
  runId: string;
  /** The collaboration the run belongs to; sites admit runs per collaboration. */
  collaboration: string;
  /** The organisation that signed it and receives every output. */
  requester: OrgId;
  /** Every site taking part, in protocol order (the first initiates a ring, aggregates shares). */
  participants: OrgId[];
  plan: RunPlan;
  createdAt: string;
  /** After this, no site runs a step of it. */
  expiresAt: string;
}

/** A manifest as it travels: the compact JWS (RFC 7515) by the requester's signing key. */
export type SignedManifest = string;

/** A step's container limit when neither the step nor the run sets one: five minutes. */
export const DEFAULT_STEP_TIMEOUT_MS = 5 * 60_000;
