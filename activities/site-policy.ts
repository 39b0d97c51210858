/**
 * A site operator's policy: which runs the site takes part in and what may leave it. It comes
 * from the operator's own site.yaml, never from the run: the API, the coordinator and Temporal
 * relay runs but do not decide what runs on a site's data (DESIGN.md, "Trust: what a site checks").
 */
import type { OrgId } from '../common/ids.ts';
import type { ImageRef } from './types.ts';

/** What an allowed image may be run as. */
export const ImageRole = {
  /** An analysis step of a chain: reads datasets and the run volume; sends nothing unless `release`. */
  Analysis: 'analysis',
  /** A secure-sum protocol's steps (ring, additive shares), and nothing else. */
  Protocol: 'protocol',
} as const;
export type ImageRole = (typeof ImageRole)[keyof typeof ImageRole];

/** An allow-list entry: an image by name and digest, and the role it may play. */
export interface AllowedImage extends ImageRef {
  role: ImageRole;
  /**
   * Analysis images only: the container's own output may go to the requester and its messages to
   * other sites. Off by default: then only secure-sum totals leave the site.
   */
  release?: boolean;
}

/** One collaboration the site takes part in. */
export interface CollaborationPolicy {
  /** The organisations that may request runs in it. */
  requesters: readonly OrgId[];
  /** The site's datasets a run in it may read; any other is refused. */
  datasets: readonly string[];
}

export interface SitePolicy {
  /** Collaboration id → what the site admits in it. A run in any other collaboration is refused. */
  collaborations: Readonly<Record<string, CollaborationPolicy>>;
  /** The fewest sites a secure sum this site contributes to may span (at least 3). */
  minSites: number;
  /** The smallest public modulus the site accepts for a secure sum. */
  minModulus: bigint;
  /** The differential-privacy budgets the site keeps per dataset (activities/privacy-budget.ts). */
  privacy: PrivacyPolicy;
}

/**
 * A dataset's privacy budget: the (ε, δ) that every release touching it, composed, may spend.
 * With `renewEveryMs`, a charge stops counting that long after it was made (a sliding window).
 */
export interface DatasetBudget {
  epsilon: number;
  delta: number;
  renewEveryMs?: number;
}

/** What the site's operator set for differential privacy, per dataset name. */
export interface PrivacyPolicy {
  /** Dataset → its budget. A dataset without one is charged (recorded) but never refused. */
  budgets: Readonly<Record<string, DatasetBudget>>;
  /** Datasets a step may read only in a release that carries differential privacy. */
  requirePrivacy: readonly string[];
}

/** No budgets, no dataset that requires privacy: the policy of a site.yaml that sets none. */
export const NO_PRIVACY_POLICY: PrivacyPolicy = Object.freeze({ budgets: Object.freeze({}), requirePrivacy: Object.freeze([]) });

/** Three sites at least: with two, each learns the other's value from the total. */
export const DEFAULT_MIN_SITES = 3;
/** 2^64: a modulus far above any count, so a site never refuses a value for its size (no oracle). */
export const DEFAULT_MIN_MODULUS = 1n << 64n;

/** An allow-list entry for a protocol image (ring or additive secure sum). */
export function asProtocolImage(image: ImageRef): AllowedImage {
  return { name: image.name, digest: image.digest, role: ImageRole.Protocol };
}

/** An allow-list entry for an analysis image; `release` lets its own output leave the site. */
export function asAnalysisImage(image: ImageRef, release = false): AllowedImage {
  return { name: image.name, digest: image.digest, role: ImageRole.Analysis, ...(release ? { release } : {}) };
}
