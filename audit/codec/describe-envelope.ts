/**
 * What the codec server shows in place of an envelope: its clear metadata (sender, recipients,
 * run, step, sequence, key thumbprints, sizes) and whether its sender's signature verifies —
 * never its content, unless the codec server holds the key of an organisation it was sealed for,
 * and then only after the envelope opened and verified as a site would open it. A large message's
 * body travels detached: shown as its clear reference (digest, size), and its content only when
 * opened here and fetched from the blob store and checked like a site checks it.
 */
import { createMemoryReplayGuard, inspectEnvelope, openEnvelope, verifyEnvelopeSignature, verifyStepAttestation, type OpenedDetachedBody, type OrgKeys } from '../../crypto/index.ts';
import type { KeyDirectory } from '../../activities/key-directory.ts';
import type { DetachedBodyRef, EnvelopeRef } from '../../common/envelope.ts';
import { isParleyError } from '../../common/errors.ts';
import { envelopeOfBlobRef, type FetchBlob } from '../bundle-blobs.ts';
import { memoryBodies } from '../detached-bodies.ts';
import { readDetachedBody } from '../open-detached-body.ts';

/**
 * The largest detached body the codec server fetches and shows: what a Web UI page can hold. A
 * larger one is named, with where to read it (`parley audit open`), and never fetched.
 */
export const CODEC_MAX_BODY_BYTES = 4 * 1024 * 1024;

export interface EnvelopeView {
  parleyEnvelope: {
    runId: string;
    step: string;
    from: string;
    to: string[];
    seq: number;
    senderKid: string;
    recipientKids: string[];
    sizes: { ciphertext: number; envelope: number };
    /** For a large message: its body travels beside the history; this is its clear reference (never its key). */
    detached?: DetachedBodyRef;
    /** verified / invalid against the sender's published key; unknown without a key directory. */
    signature: 'verified' | 'invalid' | 'unknown';
    /** Present only when opened with the codec server's own organisation key. */
    opened?: { by: string; content: unknown };
    /** Why it was not opened for the codec server's organisation, when it was sealed for it. */
    notOpened?: string;
  };
}

export interface DescribeOptions {
  /** The organisation whose envelopes may be opened here, if any. */
  keys?: OrgKeys;
  /** Published public keys, to check signatures (and required to open). */
  directory?: KeyDirectory;
  /**
   * Reads a run's blobs (the API's, as an auditor): to show a blob reference as its envelope, and
   * a detached body (up to CODEC_MAX_BODY_BYTES) of an envelope opened here.
   */
  blobs?: FetchBlob;
}

/** What the codec server shows in place of a blob reference. */
export interface BlobView {
  parleyBlob: {
    digest: string;
    size: number;
    binding: EnvelopeRef['binding'];
    /** matches: fetched, and its digest, size and binding are the reference's; else why not. */
    check: 'matches' | 'not-fetched' | 'unavailable' | string;
    /** The fetched envelope's view (signature checked, opened as any envelope), when it matches. */
    envelope?: unknown;
  };
}

/**
 * The view of a blob reference: its clear metadata and, when the blob can be fetched and matches
 * the reference, the view of the envelope it stands for. A blob that does not match is shown as
 * such, never opened.
 */
export async function describeBlobRef(ref: EnvelopeRef, options: DescribeOptions): Promise<BlobView> {
  const view: BlobView = { parleyBlob: { digest: ref.digest, size: ref.size, binding: ref.binding, check: 'not-fetched' } };
  if (!options.blobs) return view;
  let text: string;
  try {
    text = Buffer.from(await options.blobs(ref.binding.runId, ref.digest, ref.size)).toString('utf8');
  } catch {
    view.parleyBlob.check = 'unavailable';
    return view;
  }
  const resolved = envelopeOfBlobRef(ref, { [ref.digest]: text });
  if ('problem' in resolved) {
    view.parleyBlob.check = resolved.problem;
    return view;
  }
  view.parleyBlob.check = 'matches';
  view.parleyBlob.envelope = await describeEnvelope(resolved.envelope, options);
  return view;
}

const decoder = new TextDecoder();

/** The view of an envelope; an unreadable one is shown as such, never as its raw content. */
export async function describeEnvelope(value: unknown, options: DescribeOptions): Promise<EnvelopeView | { parleyEnvelope: { unreadable: string } }> {
  let info;
  try {
    info = inspectEnvelope(value);
  } catch (err) {
    return { parleyEnvelope: { unreadable: `malformed or altered (${String((err as { details?: { reason?: unknown } }).details?.reason ?? 'unreadable')})` } };
  }
  const b = info.binding;
  const view: EnvelopeView = {
    parleyEnvelope: {
      runId: b.runId, step: b.step, from: b.from, to: b.to, seq: b.seq,
      senderKid: info.senderKid, recipientKids: info.recipientKids,
      sizes: { ciphertext: info.sizes.ciphertext, envelope: info.sizes.envelope },
      ...(info.detached ? { detached: { ...info.detached } } : {}),
      signature: 'unknown',
    },
  };
  const senderKey = (await options.directory?.publicKeys(b.from))?.sign.jwk;
  if (senderKey) {
    view.parleyEnvelope.signature = await verifyEnvelopeSignature(value, senderKey).then(() => 'verified' as const, () => 'invalid' as const);
  }
  const keys = options.keys;
  if (keys && b.to.includes(keys.org)) {
    if (!senderKey) {
      view.parleyEnvelope.notOpened = `no published key for "${b.from}" to verify it with`;
      return view;
    }
    try {
      const opened = await openEnvelope(value, {
        expect: { runId: b.runId, step: b.step, recipient: keys.org },
        receiveKey: keys.receive.privateJwk,
        senderSigningKey: async () => senderKey,
        replayGuard: createMemoryReplayGuard(),
      });
      let body: Uint8Array;
      if (opened.detached) {
        const fetched = await detachedBodyOf(b.runId, opened.detached, options);
        if ('notOpened' in fetched) {
          view.parleyEnvelope.notOpened = fetched.notOpened;
          return view;
        }
        body = fetched.body;
      } else {
        body = opened.body;
      }
      const text = decoder.decode(body);
      let content: unknown = text;
      try {
        content = JSON.parse(text);
      } catch {
        // not JSON: shown as text
      }
      view.parleyEnvelope.opened = { by: keys.org, content };
    } catch (err) {
      view.parleyEnvelope.notOpened = String((err as { code?: unknown }).code ?? 'refused');
    }
  }
  return view;
}

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

/**
 * The body of an opened detached envelope, fetched from the blob store and checked (length,
 * SHA-256, then each chunk as it decrypts) — or why it is not shown. The file key is wiped
 * whichever way this ends, and appears in no answer.
 */
async function detachedBodyOf(runId: string, detached: OpenedDetachedBody, options: DescribeOptions): Promise<{ body: Uint8Array } | { notOpened: string }> {
  const named = `its body travels beside the history (${detached.size} bytes, SHA-256 ${detached.digest})`;
  if (!options.blobs || detached.size > CODEC_MAX_BODY_BYTES) {
    detached.fileKey.fill(0);
    return {
      notOpened: options.blobs
        ? `${named}, more than the ${mib(CODEC_MAX_BODY_BYTES)} this server shows; read it with \`parley audit export\` then \`parley audit open\``
        : `${named}; start the codec server with --api URL to fetch it, or read it with \`parley audit open\``,
    };
  }
  let sealed: Uint8Array;
  try {
    sealed = await options.blobs(runId, detached.digest, detached.size);
  } catch (err) {
    detached.fileKey.fill(0);
    const why = isParleyError(err) ? err.code : (err as { status?: unknown }).status === 404 ? 'not in the blob store: removed with the run\'s retention' : 'unavailable';
    return { notOpened: `${named}, and it could not be fetched (${why})` };
  }
  try {
    return { body: await readDetachedBody(memoryBodies(new Map([[detached.digest, sealed]]), 'the blob store'), runId, detached) };
  } catch (err) {
    if (!isParleyError(err)) throw err;
    return { notOpened: `${err.code}${typeof err.details.reason === 'string' ? ` (${err.details.reason})` : ''}` };
  }
}

/**
 * A step's attestation (common/attestation.ts) as readable claims: what the site says it ran and
 * sealed. Its signature is checked against `org`'s published key when a key directory is given.
 */
export async function describeAttestation(jws: string, org: unknown, options: DescribeOptions): Promise<unknown> {
  let claims: unknown;
  try {
    claims = JSON.parse(Buffer.from(jws.split('.')[1] ?? '', 'base64url').toString('utf8'));
  } catch {
    return { parleyAttestation: { unreadable: 'not a compact JWS' } };
  }
  const key = typeof org === 'string' ? (await options.directory?.publicKeys(org))?.sign.jwk : undefined;
  const signature = key ? ((await verifyStepAttestation(jws, key)).ok ? 'verified' : 'invalid') : 'unknown';
  return { parleyAttestation: { claims, signature } };
}
