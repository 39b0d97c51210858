/**
 * Identifiers that cross part boundaries. An organisation id doubles as a Docker label value,
 * a task-queue suffix and a file name, so it is a short lowercase slug.
 */

const ORG_ID = /^[a-z][a-z0-9-]{0,39}$/;
const RUN_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const STEP_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** A dataset's name: one path segment, mounted at /data/<name> in a step's container. */
export const DATASET_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** An image's content digest: the image id, or a registry digest. */
export const IMAGE_DIGEST = /^sha256:[0-9a-f]{64}$/;

/** An organisation's id: `[a-z][a-z0-9-]{0,39}`. */
export type OrgId = string;

export function isOrgId(value: unknown): value is OrgId {
  return typeof value === 'string' && ORG_ID.test(value);
}

export function isRunId(value: unknown): value is string {
  return typeof value === 'string' && RUN_ID.test(value);
}

export function isStepId(value: unknown): value is string {
  return typeof value === 'string' && STEP_ID.test(value);
}

/** The Temporal task queue a site's worker polls. */
export function siteTaskQueue(org: OrgId): string {
  return `site.${org}`;
}

