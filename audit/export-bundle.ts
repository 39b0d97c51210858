/**
 * Builds an audit bundle from a live Temporal namespace, and writes it atomically: a reader
 * sees the previous file or the whole new one, never half a bundle.
 */
import type { Client } from '@temporalio/client';
import type { KeyDirectory } from '../activities/key-directory.ts';
import { AUDIT_BUNDLE_FORMAT, type AuditBundle } from './audit-bundle.ts';
import { collectPublicKeys } from './collect-public-keys.ts';
import { envelopeCensus, type EnvelopeCensus } from './envelope-orgs.ts';
import { fetchHistories } from './fetch-histories.ts';
import { fetchBundleBlobs, type FetchBlob } from './bundle-blobs.ts';
import { ErrorCode, ParleyError } from '../common/errors.ts';

export interface ExportOptions {
  client: Client;
  workflowId: string;
  /** Where the organisations' public keys come from, and how to name it in errors. */
  keys: { directory: KeyDirectory; source: string };
  /** Where the run's blobs come from (the API, as an auditor); needed when the run has any. */
  blobs?: { fetch: FetchBlob; source: string };
  now?: () => Date;
}

/**
 * The bundle of `workflowId`'s run and its children, with the public keys its envelopes need.
 * @throws ParleyError NotFound for an unknown workflow or missing public keys.
 */
export async function exportAuditBundle(options: ExportOptions): Promise<{ bundle: AuditBundle; census: EnvelopeCensus }> {
  const histories = await fetchHistories(options.client, options.workflowId);
  const census = envelopeCensus(histories.map((h) => h.history));
  const publicKeys = await collectPublicKeys(census.orgs, options.keys.directory, options.keys.source);
  let blobs: Record<string, string> | undefined;
  if (census.blobs > 0) {
    if (!options.blobs) {
      throw new ParleyError(ErrorCode.InvalidInput, `Run "${options.workflowId}" sent ${census.blobs} message(s) too large for its history, stored as blobs at the Parley API; the bundle needs them to be checked. Export with --api URL (logged in as an auditor).`, { workflowId: options.workflowId });
    }
    try {
      blobs = await fetchBundleBlobs(histories.map((h) => h.history), options.blobs.fetch);
    } catch (err) {
      throw new ParleyError(ErrorCode.NotFound, `The blobs of run "${options.workflowId}" could not be read from ${options.blobs.source} (${(err as Error).message}). They are removed with the run's retention: export sooner, or verify without them.`, { workflowId: options.workflowId }, { cause: err });
    }
  }
  const bundle: AuditBundle = {
    format: AUDIT_BUNDLE_FORMAT,
    workflowId: options.workflowId,
    exportedAt: (options.now?.() ?? new Date()).toISOString(),
    histories,
    publicKeys,
    ...(blobs ? { blobs } : {}),
  };
  return { bundle, census };
}

/** The bundle as the file's text. */
export function bundleText(bundle: AuditBundle): string {
  return `${JSON.stringify(bundle, null, 2)}\n`;
}

