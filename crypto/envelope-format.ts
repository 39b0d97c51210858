/**
 * The envelope's wire format, shared by seal, inspect and open (internal to crypto/).
 *
 * Envelope = { v: 2, binding, jwe, sig } where jwe is a General JSON JWE (RFC 7516 §7.2.1):
 * - protected header: { enc: "A256GCM", cty: "parley+jws", skid, parley: binding } (+ "epk" when
 *   there is one recipient, as jose places it). A256GCM authenticates it, so the clear binding
 *   cannot be changed without the decryption failing.
 * - one recipient per receiver: header { alg: "ECDH-ES+A256KW", kid: receive thumbprint } (+ "epk").
 * - plaintext: a compact JWS (RFC 7515), header { alg, kid: signing thumbprint, typ: "parley+jws" },
 *   payload the UTF-8 JSON claims { runId, step, from, to, seq, iat, body } (body base64url).
 * - sig: the sender's detached compact JWS `<header>..<signature>`, header { alg, kid: signing
 *   thumbprint, typ: "parley+envelope" }, over the canonical JSON of { v, binding, jwe }
 *   (envelope-signature.ts): verifiable by anyone with the sender's public key.
 */
import type { EnvelopeBinding } from '../common/envelope.ts';
import { ErrorCode, ParleyError } from '../common/errors.ts';
import { isOrgId, isRunId, isStepId } from '../common/ids.ts';
import { isBase64url } from './base64url.ts';

export const CONTENT_ENC = 'A256GCM';
/** `typ` of the inner JWS and `cty` of the JWE: a JWS made for anything else is never accepted here. */
export const SIGNED_TYPE = 'parley+jws';
/** 2 since the outer signature; a version-1 envelope (no `sig`) is refused as malformed. */
export const ENVELOPE_VERSION = 2;
/** `typ` of the outer JWS: a JWS the sender made for anything else never verifies as one. */
export const ENVELOPE_SIG_TYPE = 'parley+envelope';

// Ed25519 and ES256 (raw r‖s) signatures are both 64 bytes.
const SIGNATURE_BYTES = 64;
const SIG_HEADER_MEMBERS = ['alg', 'kid', 'typ'];


/** The protected JWE header as sealed. */
export interface EnvelopeProtectedHeader {
  enc: typeof CONTENT_ENC;
  cty: typeof SIGNED_TYPE;
  /** The sender's signing-key thumbprint, so auditors see which key signed without opening. */
  skid: string;
  parley: EnvelopeBinding;
}

/** What the sender signs: the binding, when, and the body (or, for a large one, how to read its blob). */
export type SignedClaims = EnvelopeBinding & {
  /** Seconds since the epoch at sealing. Informational: histories are replayed long after. */
  iat: number;
} & ({ body: string; detached?: never } | { detached: SignedDetachedBody; body?: never });

/** A detached body as the sender signs it: the blob's digest and size, and its file key (base64url). */
export interface SignedDetachedBody {
  key: string;
  digest: string;
  size: number;
}

/** What is wrong with `value` as the clear reference to a detached body, or undefined when it is one. */
export function detachedProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'must be an object';
  const { digest, size, ...rest } = value as Record<string, unknown>;
  if (Object.values(rest).some((v) => v !== undefined)) return 'has an unexpected member';
  if (!isBase64url(digest, 32)) return 'digest must be a SHA-256, base64url';
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < MIN_DETACHED_BYTES) return `size must be an integer of at least ${MIN_DETACHED_BYTES}`;
  return undefined;
}

// The shortest blob: its nonce and one empty chunk's tag (crypto/body-stream.ts).
const MIN_DETACHED_BYTES = 16 + 16;

const BINDING_MEMBERS = new Set(['runId', 'step', 'from', 'to', 'seq']);

/** What is wrong with `value` as a binding, or undefined when it is one. */
export function bindingProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'must be an object';
  const b = value as Record<string, unknown>;
  for (const [member, inner] of Object.entries(b)) {
    if (inner !== undefined && !BINDING_MEMBERS.has(member)) return 'has an unexpected member';
  }
  if (!isRunId(b.runId)) return 'runId must be a run id';
  if (!isStepId(b.step)) return 'step must be a step id';
  if (!isOrgId(b.from)) return 'from must be an organisation id';
  if (!Array.isArray(b.to) || b.to.length === 0) return 'to must be a non-empty array of organisation ids';
  for (let i = 0; i < b.to.length; i++) {
    if (!isOrgId(b.to[i])) return 'to must contain organisation ids only';
    if (i > 0 && !((b.to[i - 1] as string) < (b.to[i] as string))) return 'to must be sorted, without duplicates';
  }
  if (!isSeq(b.seq)) return 'seq must be a non-negative safe integer';
  return undefined;
}

export function isSeq(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** A copy holding the binding's members only. */
export function copyBinding(b: EnvelopeBinding): EnvelopeBinding {
  return { runId: b.runId, step: b.step, from: b.from, to: [...b.to], seq: b.seq };
}

export function sameBinding(a: EnvelopeBinding, b: EnvelopeBinding): boolean {
  return (
    a.runId === b.runId &&
    a.step === b.step &&
    a.from === b.from &&
    a.seq === b.seq &&
    a.to.length === b.to.length &&
    a.to.every((org, i) => org === b.to[i])
  );
}

/** Why an envelope was refused as tampered; for the site's log only (ParleyError.details.reason). */
export type TamperReason =
  | 'malformed'
  | 'clear-binding-mismatch'
  | 'decryption-failed'
  | 'envelope-signature-invalid'
  | 'signature-invalid'
  | 'signer-key-mismatch'
  | 'claims-malformed'
  | 'signed-binding-mismatch'
  | 'detached-mismatch';

/**
 * The one message for every tampered envelope: like jose's "decryption operation failed", it does
 * not say which check failed, so whoever altered it learns nothing from the refusal.
 */
export const TAMPERED_MESSAGE =
  'Envelope refused: it did not decrypt and verify as sealed by its sender, so it was altered or forged. ' +
  'Nothing in it was used; ask the sender to seal it again, and see this site\'s log for details.';

/**
 * A ParleyError EnvelopeTampered. `details` must only hold safe values: ids, public thumbprints,
 * jose error codes — never key material or plaintext.
 */
export function tampered(reason: TamperReason, details: Record<string, string | number | boolean | undefined> = {}): ParleyError {
  return new ParleyError(ErrorCode.EnvelopeTampered, TAMPERED_MESSAGE, { reason, ...details });
}

/** The parts of a `sig` member, or undefined when it is not a detached compact JWS of our shape. */
export function sigParts(sig: unknown): { protected: string; signature: string } | undefined {
  if (typeof sig !== 'string') return undefined;
  const parts = sig.split('.');
  if (parts.length !== 3 || parts[1] !== '') return undefined;
  const [header, , signature] = parts as [string, string, string];
  if (!isBase64url(header) || header.length === 0 || !isBase64url(signature, SIGNATURE_BYTES)) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(header, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
  const members = Object.keys(parsed);
  if (members.length !== SIG_HEADER_MEMBERS.length || !SIG_HEADER_MEMBERS.every((m) => members.includes(m))) return undefined;
  const { typ, kid } = parsed as Record<string, unknown>;
  if (typ !== ENVELOPE_SIG_TYPE || typeof kid !== 'string') return undefined;
  return { protected: header, signature };
}

/**
 * An envelope refused as a replay: its (run, sender, seq) was `when` here as another envelope or
 * at another step — opened before (open-envelope.ts), or admitted meanwhile by a concurrent step
 * (activities/run-ledger.ts).
 */
export function replayedError(b: EnvelopeBinding, when: 'already opened' | 'admitted meanwhile'): ParleyError {
  return new ParleyError(
    ErrorCode.EnvelopeReplayed,
    `Envelope seq ${b.seq} from "${b.from}" in run "${b.runId}" ${when === 'already opened' ? 'was already opened here' : 'was admitted here meanwhile'} as another envelope or at another step; refused as a replay. ` +
      'A new message needs a new sequence number; check the sender and the relay.',
    { runId: b.runId, step: b.step, from: b.from, seq: b.seq },
  );
}
