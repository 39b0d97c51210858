/**
 * Reading an envelope's clear metadata without any key: for the relay's routing, for auditors,
 * and as the first, cheap stage of opening. Validates the whole wire shape strictly (one
 * canonical spelling, no unexpected members) so that everything later stages rely on is there.
 */
import type { DetachedBodyRef, Envelope, EnvelopeBinding, GeneralJwe } from '../common/envelope.ts';
import { decodedLength, isBase64url } from './base64url.ts';
import { CONTENT_ENC, ENVELOPE_VERSION, SIGNED_TYPE, bindingProblem, copyBinding, detachedProblem, sameBinding, sigParts, tampered } from './envelope-format.ts';
import type { EnvelopeProtectedHeader } from './envelope-format.ts';
import { RECEIVE_ALG, epkProblem } from './jwk-kinds.ts';
import { isThumbprint } from './thumbprint.ts';

/** An envelope's clear metadata. Nothing here is secret; none of it is authenticated until opened. */
export interface EnvelopeInfo {
  binding: EnvelopeBinding;
  /** Per recipient entry, the thumbprint of the receive key it was sealed for. */
  recipientKids: string[];
  /** The thumbprint of the sender's signing key, from the protected header. */
  senderKid: string;
  /** The blob of a body that travels beside the envelope, when it does (its digest and length). */
  detached?: DetachedBodyRef;
  /** Sizes in bytes: decoded ciphertext and protected header, the wrapped keys, the whole JSON. */
  sizes: { ciphertext: number; protectedHeader: number; encryptedKeys: number; envelope: number };
}

/** An envelope that passed {@link inspectEnvelope}, with its decoded protected header. */
export interface CheckedEnvelope {
  envelope: Envelope;
  header: EnvelopeProtectedHeader;
  recipientKids: string[];
  /** The outer signature's parts (not yet verified). */
  sig: { protected: string; signature: string };
}

// 96-bit IV and 128-bit tag for A256GCM; AES key wrap of a 256-bit key adds 64 bits.
const IV_BYTES = 12;
const TAG_BYTES = 16;
const WRAPPED_KEY_BYTES = 40;

/**
 * The clear metadata of an envelope, using no key.
 *
 * @throws ParleyError EnvelopeTampered when the envelope is malformed or its clear binding differs
 *   from the one in its protected header (details.reason says which, details.field where).
 */
export function inspectEnvelope(envelope: unknown): EnvelopeInfo {
  const { envelope: checked, header, recipientKids } = checkEnvelope(envelope);
  return {
    binding: copyBinding(checked.binding),
    recipientKids,
    senderKid: header.skid,
    ...(checked.detached ? { detached: { ...checked.detached } } : {}),
    sizes: {
      ciphertext: decodedLength(checked.jwe.ciphertext),
      protectedHeader: decodedLength(checked.jwe.protected),
      encryptedKeys: recipientKids.length * WRAPPED_KEY_BYTES,
      envelope: JSON.stringify(checked).length,
    },
  };
}

/** The checks of {@link inspectEnvelope}, without the sizes; for openEnvelope. */
export function checkEnvelope(value: unknown): CheckedEnvelope {
  const malformed = (field: string): never => {
    throw tampered('malformed', { field });
  };
  const envelope = record(value) ?? malformed('envelope');
  if (!onlyMembers(envelope, ['v', 'binding', 'detached', 'jwe', 'sig'])) malformed('envelope');
  if (envelope.detached !== undefined && detachedProblem(envelope.detached) !== undefined) malformed('detached');
  const detached = envelope.detached as DetachedBodyRef | undefined;
  if (envelope.v !== ENVELOPE_VERSION) malformed('v');
  const sig = sigParts(envelope.sig) ?? malformed('sig');
  if (bindingProblem(envelope.binding) !== undefined) malformed('binding');
  const binding = envelope.binding as EnvelopeBinding;

  const jwe = record(envelope.jwe) ?? malformed('jwe');
  if (!onlyMembers(jwe, ['protected', 'recipients', 'iv', 'ciphertext', 'tag'])) malformed('jwe');
  if (!isBase64url(jwe.iv, IV_BYTES)) malformed('jwe.iv');
  if (!isBase64url(jwe.tag, TAG_BYTES)) malformed('jwe.tag');
  if (!isBase64url(jwe.ciphertext) || jwe.ciphertext.length === 0) malformed('jwe.ciphertext');
  if (!isBase64url(jwe.protected) || jwe.protected.length === 0) malformed('jwe.protected');

  if (!Array.isArray(jwe.recipients) || jwe.recipients.length !== binding.to.length) malformed('jwe.recipients');
  const recipientKids = (jwe.recipients as unknown[]).map((entry) => {
    const recipient = record(entry) ?? malformed('jwe.recipients');
    if (!onlyMembers(recipient, ['header', 'encrypted_key'])) malformed('jwe.recipients');
    if (!isBase64url(recipient.encrypted_key, WRAPPED_KEY_BYTES)) malformed('jwe.recipients.encrypted_key');
    const header = record(recipient.header) ?? malformed('jwe.recipients.header');
    if (!onlyMembers(header, ['alg', 'kid', 'epk'])) malformed('jwe.recipients.header');
    if (header.alg !== RECEIVE_ALG) malformed('jwe.recipients.header.alg');
    if (!isThumbprint(header.kid)) malformed('jwe.recipients.header.kid');
    if (header.epk !== undefined && epkProblem(header.epk) !== undefined) malformed('jwe.recipients.header.epk');
    return header.kid as string;
  });
  if (new Set(recipientKids).size !== recipientKids.length) malformed('jwe.recipients.header.kid');

  const protectedJson = Buffer.from(jwe.protected as string, 'base64url').toString('utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(protectedJson);
  } catch {
    malformed('jwe.protected');
  }
  const header = record(parsed) ?? malformed('jwe.protected');
  if (!onlyMembers(header, ['enc', 'cty', 'skid', 'parley', 'epk'])) malformed('jwe.protected');
  if (header.enc !== CONTENT_ENC) malformed('jwe.protected.enc');
  if (header.cty !== SIGNED_TYPE) malformed('jwe.protected.cty');
  if (!isThumbprint(header.skid)) malformed('jwe.protected.skid');
  if (header.epk !== undefined && epkProblem(header.epk) !== undefined) malformed('jwe.protected.epk');
  if (bindingProblem(header.parley) !== undefined) malformed('jwe.protected.parley');
  // The clear binding is only a convenient copy of the authenticated one in the protected header.
  if (!sameBinding(header.parley as EnvelopeBinding, binding)) throw tampered('clear-binding-mismatch');

  return {
    envelope: {
      v: ENVELOPE_VERSION, binding, ...(detached ? { detached: { digest: detached.digest, size: detached.size } } : {}),
      jwe: jwe as unknown as GeneralJwe, sig: envelope.sig as string,
    },
    header: header as unknown as EnvelopeProtectedHeader,
    recipientKids,
    sig,
  };
}

function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

// Members set to undefined count as absent: they vanish in any JSON round trip.
function onlyMembers(value: Record<string, unknown>, allowed: string[]): boolean {
  return Object.entries(value).every(([member, inner]) => inner === undefined || allowed.includes(member));
}
