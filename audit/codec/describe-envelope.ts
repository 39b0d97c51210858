/**
 * What the codec server shows in place of an envelope: its clear metadata (sender, recipients,
 * run, step, sequence, key thumbprints, sizes) and whether its sender's signature verifies —
 * never its content, unless the codec server holds the key of an organisation it was sealed for,
 * and then only after the envelope opened and verified as a site would open it.
 */
import { createMemoryReplayGuard, inspectEnvelope, openEnvelope, verifyEnvelopeSignature, verifyStepAttestation, type OrgKeys } from '../../crypto/index.ts';
import type { KeyDirectory } from '../../activities/key-directory.ts';
import type { EnvelopeRef } from '../../common/envelope.ts';
import { envelopeOfBlobRef, type FetchBlob } from '../bundle-blobs.ts';

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
  /** Reads a run's blobs (the API's, as an auditor), to show a blob reference as its envelope. */
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
      const text = decoder.decode(opened.body);
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
