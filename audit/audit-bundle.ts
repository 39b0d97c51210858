/**
 * The audit bundle: one JSON file holding a run's histories, exactly as `temporal workflow show
 * -o json` writes them, and the public keys of every organisation its envelopes name. An auditor
 * needs nothing else, and no private key, to replay or check the run.
 */
import type { OrgPublicKeys } from '../crypto/index.ts';
import type { BundleBlobs } from './bundle-blobs.ts';
import type { BodySource } from './detached-bodies.ts';

/** The bundle's format marker; a reader refuses any other. */
export const AUDIT_BUNDLE_FORMAT = 'parley-audit-bundle/1';

/** A history in proto JSON, as historyToJSON or the Temporal CLI write it: `{ "events": [...] }`. */
export interface HistoryJson {
  events: Array<Record<string, unknown>>;
}

/** One workflow run's history inside a bundle. */
export interface AuditHistory {
  workflowId: string;
  runId: string;
  history: HistoryJson;
}

/** What `parley audit export` writes. */
export interface AuditBundle {
  format: typeof AUDIT_BUNDLE_FORMAT;
  /** The workflow the export started from; its children follow it in `histories`. */
  workflowId: string;
  /** RFC 3339. */
  exportedAt: string;
  histories: AuditHistory[];
  /** Organisation → its public keys (JWKs and RFC 7638 thumbprints), for every org the envelopes name. */
  publicKeys: Record<string, OrgPublicKeys>;
  /**
   * Digest → blob text, for every blob reference in the histories (./bundle-blobs.ts): sealed
   * envelopes too large for the history, ciphertext only. Absent when the run had none.
   */
  blobs?: Record<string, string>;
  /**
   * The directory beside the bundle file holding the sealed bodies of its detached messages
   * (./bundle-bodies.ts), one file per body named by its digest. Absent when the run had none,
   * or the bundle was exported without them.
   */
  bodiesDirectory?: string;
}

/** What verify and open read beside the histories: older runs' blobs, and detached bodies. */
export interface BundlePayloads {
  blobs?: BundleBlobs;
  bodies?: BodySource;
}

/** The short event type of a proto JSON event: "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED" → "ActivityTaskScheduled". */
export function eventTypeName(event: Record<string, unknown>): string {
  const raw = event.eventType;
  if (typeof raw !== 'string') return 'Unknown';
  if (!raw.startsWith('EVENT_TYPE_')) return raw;
  return raw
    .slice('EVENT_TYPE_'.length)
    .toLowerCase()
    .replace(/(^|_)([a-z])/g, (_, _sep: string, c: string) => c.toUpperCase());
}
