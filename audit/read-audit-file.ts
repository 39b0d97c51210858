/**
 * Reads what `parley audit verify` and `audit open` take: the histories of a bundle (or of a plain
 * `temporal workflow show -o json` file) and the public keys to check them with — the bundle's,
 * or those of a key directory the auditor trusts more (e.g. fetched from the API themselves).
 */
import { readFile } from 'node:fs/promises';
import { ErrorCode, ParleyError } from '../common/errors.ts';
import { parseOrgPublicKeys, type OrgPublicKeys } from '../crypto/index.ts';
import { fileKeyDirectory } from '../activities/key-directory.ts';
import { directoryBodies, isBodiesDirectoryName } from './bundle-bodies.ts';
import { collectPublicKeys } from './collect-public-keys.ts';
import type { BodySource } from './detached-bodies.ts';
import { envelopeCensus } from './envelope-orgs.ts';
import { readHistoryFile, type HistorySource } from './read-history-file.ts';
import { isRecord } from './proto-payloads.ts';

export interface AuditFile {
  histories: HistorySource[];
  publicKeys: Record<string, OrgPublicKeys>;
  /** The bundle's blobs (digest → text); empty for a plain history. */
  blobs: Record<string, string>;
  /** The bundle's detached bodies (files beside it); none for a plain history or a bundle without them. */
  bodies: BodySource;
}

/** The bundle's `blobs`, keeping only text values (verify reports what is missing). */
function blobsOf(json: unknown): Record<string, string> {
  if (!isRecord(json) || !isRecord(json.blobs)) return {};
  return Object.fromEntries(Object.entries(json.blobs).filter((entry): entry is [string, string] => typeof entry[1] === 'string'));
}

/** Where the bundle's detached bodies are, as its `bodiesDirectory` names them. */
function bodiesOf(file: string, json: unknown): BodySource {
  const name = isRecord(json) ? json.bodiesDirectory : undefined;
  if (name === undefined) return { where: `${file} (it names no bodies directory: it was exported without bodies, or is a plain history)`, read: async () => undefined };
  if (!isBodiesDirectoryName(name)) {
    throw new ParleyError(ErrorCode.InvalidInput, `${file} names its bodies directory ${JSON.stringify(name)}, which is not a plain name beside the bundle; the bundle was altered. Export it again, or set "bodiesDirectory" to the name of the directory beside it.`, { path: file });
  }
  return directoryBodies(file, name);
}

/**
 * The histories in `file` and the public keys to verify them with.
 * @throws ParleyError InvalidInput (unreadable file, a plain history without --keys-dir, or a
 *   bodies directory that is not a plain name beside the bundle),
 *   KeyInvalid (a bundled key is malformed), NotFound (the key directory lacks an organisation).
 */
export async function readAuditFile(file: string, options: { keysDir?: string; workflowId?: string } = {}): Promise<AuditFile> {
  const histories = await readHistoryFile(file, options.workflowId);
  const json: unknown = JSON.parse(await readFile(file, 'utf8'));
  const blobs = blobsOf(json);
  const bodies = bodiesOf(file, json);
  if (options.keysDir !== undefined) {
    const { orgs } = envelopeCensus(histories.map((h) => h.history));
    return { histories, publicKeys: await collectPublicKeys(orgs, fileKeyDirectory(options.keysDir), `--keys-dir ${options.keysDir}`), blobs, bodies };
  }
  if (!isRecord(json) || !isRecord(json.publicKeys)) {
    throw new ParleyError(ErrorCode.InvalidInput, `${file} is a plain history and carries no public keys. Give --keys-dir with the organisations' <org>.json public-key files, or export a bundle with \`parley audit export\`.`, { path: file });
  }
  const publicKeys: Record<string, OrgPublicKeys> = {};
  for (const [org, keys] of Object.entries(json.publicKeys)) publicKeys[org] = parseOrgPublicKeys(keys);
  return { histories, publicKeys, blobs, bodies };
}
