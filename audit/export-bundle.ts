/**
 * Builds an audit bundle from a live Temporal namespace, and writes it atomically: a reader
 * sees the previous file or the whole new one, never half a bundle. Detached bodies are written
 * first, beside where the bundle will be (./bundle-bodies.ts), each checked on its way.
 */
import { basename } from 'node:path';
import type { Client } from '@temporalio/client';
import type { KeyDirectory } from '../activities/key-directory.ts';
import { AUDIT_BUNDLE_FORMAT, type AuditBundle, type HistoryJson } from './audit-bundle.ts';
import { writeBundleBodies, type FetchBlobStream } from './bundle-bodies.ts';
import { collectPublicKeys } from './collect-public-keys.ts';
import { detachedBodiesInHistories } from './detached-bodies.ts';
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
  blobs?: { fetch: FetchBlob; stream: FetchBlobStream; source: string };
  /**
   * Where the detached bodies go: a directory beside the bundle file (./bundle-bodies.ts's
   * bodiesDirectoryName), or `without` to leave them out (verify then names each as missing).
   * Needed when the run has any.
   */
  bodies?: { directory: string } | 'without';
  now?: () => Date;
}

/**
 * The bundle of `workflowId`'s run and its children, with the public keys its envelopes need, and
 * its detached bodies written to `options.bodies.directory`.
 * @throws ParleyError NotFound for an unknown workflow or missing public keys; InvalidInput when
 *   the run has blobs or bodies and no source or place for them was given; BlobMissing or
 *   EnvelopeTampered for a body that is gone or not the one its envelope names.
 */
export async function exportAuditBundle(options: ExportOptions): Promise<{ bundle: AuditBundle; census: EnvelopeCensus }> {
  const histories = await fetchHistories(options.client, options.workflowId);
  const jsons = histories.map((h) => h.history);
  const census = envelopeCensus(jsons);
  const publicKeys = await collectPublicKeys(census.orgs, options.keys.directory, options.keys.source);
  const blobs = census.blobs > 0 ? await fetchBlobs(jsons, options, census.blobs) : undefined;
  const bodiesDirectory = census.bodies > 0 && options.bodies !== 'without' ? await writeBodies(jsons, options, census.bodies) : undefined;
  const bundle: AuditBundle = {
    format: AUDIT_BUNDLE_FORMAT,
    workflowId: options.workflowId,
    exportedAt: (options.now?.() ?? new Date()).toISOString(),
    histories,
    publicKeys,
    ...(blobs ? { blobs } : {}),
    ...(bodiesDirectory ? { bodiesDirectory } : {}),
  };
  return { bundle, census };
}

function needsApi(options: ExportOptions, count: number, what: string): never {
  throw new ParleyError(ErrorCode.InvalidInput, `Run "${options.workflowId}" sent ${count} ${what}, stored as blobs at the Parley API; the bundle needs them to be checked. Export with --api URL (logged in as an auditor).`, { workflowId: options.workflowId });
}

async function fetchBlobs(histories: HistoryJson[], options: ExportOptions, count: number): Promise<Record<string, string>> {
  if (!options.blobs) needsApi(options, count, 'message(s) too large for its history');
  try {
    return await fetchBundleBlobs(histories, options.blobs.fetch);
  } catch (err) {
    throw new ParleyError(ErrorCode.NotFound, `The blobs of run "${options.workflowId}" could not be read from ${options.blobs.source} (${(err as Error).message}). They are removed with the run's retention: export sooner, or verify without them.`, { workflowId: options.workflowId }, { cause: err });
  }
}

/** Writes the bodies and returns the directory's name, as the bundle records it. */
async function writeBodies(histories: HistoryJson[], options: ExportOptions, count: number): Promise<string> {
  if (!options.blobs) needsApi(options, count, 'message body(ies) beside its history');
  if (options.bodies === undefined || options.bodies === 'without') {
    throw new ParleyError(ErrorCode.InvalidInput, `Run "${options.workflowId}" sent ${count} message body(ies) beside its history; they are written as files beside the bundle, so the bundle needs a file: give -o FILE (not stdout), or --without-bodies to leave them out.`, { workflowId: options.workflowId });
  }
  await writeBundleBodies(detachedBodiesInHistories(histories), options.bodies.directory, { stream: options.blobs.stream, source: options.blobs.source });
  return basename(options.bodies.directory);
}

/** The bundle as the file's text. */
export function bundleText(bundle: AuditBundle): string {
  return `${JSON.stringify(bundle, null, 2)}\n`;
}
