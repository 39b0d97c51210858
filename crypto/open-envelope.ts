/**
 * Opening: the recipient's side of seal-envelope.ts. Every refusal is an error with its own code;
 * an envelope is never dropped silently (DESIGN.md "Keys and envelopes").
 *
 * Order of checks — cheap routing first, and nothing from the plaintext leaves this function, or
 * reaches the replay guard, before the sender's signature has verified:
 *
 * 1. shape (inspectEnvelope): strict wire format; the clear binding equals the protected header's
 *    → EnvelopeTampered
 * 2. recipient: `expect.recipient` is in `binding.to` and a recipient entry carries the thumbprint
 *    of our receive key → EnvelopeRecipient
 * 3. place: the binding's run and step are `expect`'s → EnvelopeBinding
 * 4. sender: `senderSigningKey(binding.from)` knows a key → UnknownSender (KeyInvalid if malformed);
 *    the protected header's `skid` is that key's thumbprint, and the outer signature over the whole
 *    envelope verifies with it (envelope-signature.ts) → EnvelopeTampered
 * 5. decrypt our recipient entry only (ECDH-ES+A256KW, A256GCM), which authenticates the protected
 *    header and so the clear binding → EnvelopeTampered
 * 6. verify the inner JWS with the sender's key, its `kid` and `typ` → EnvelopeTampered
 * 7. the signed claims equal the clear binding → EnvelopeTampered; and, on the signed values now,
 *    steps 2–3 again → EnvelopeRecipient / EnvelopeBinding
 * 8. the replay guard admits (run, from, seq) for this envelope's digest at this step → EnvelopeReplayed
 *
 * Steps 1–3 read metadata that is authenticated only at step 4, so under attack their error code
 * may name the wrong cause; it is still a refusal, and step 7 holds the rule on signed data.
 * Every EnvelopeTampered carries the same vague message; `details.reason` tells the site's log why.
 */
import type { JWK } from 'jose';
import type { EnvelopeBinding } from '../common/envelope.ts';
import { ErrorCode, ParleyError } from '../common/errors.ts';
import { isOrgId, isRunId, isStepId } from '../common/ids.ts';
import type { OrgId } from '../common/ids.ts';
import { decodeBase64url, isBase64url } from './base64url.ts';
import { FILE_KEY_BYTES } from './body-stream.ts';
import { SIGNED_TYPE, bindingProblem, detachedProblem, replayedError, sameBinding, tampered, type SignedDetachedBody } from './envelope-format.ts';
import { verifyCheckedSignature } from './envelope-signature.ts';
import { checkEnvelope } from './inspect-envelope.ts';
import { jwkProblem, keyThumbprint, kindOf } from './jwk-kinds.ts';
import { openJwe, verifyCompactJws, type SignAlg } from './node-jose.ts';
import { envelopeDigest } from './replay-guard.ts';
import type { ReplayGuard } from './replay-guard.ts';
import { fingerprint } from './thumbprint.ts';
import { nextTurnIfLarge } from './next-turn.ts';

export { inspectEnvelope } from './inspect-envelope.ts';
export type { EnvelopeInfo } from './inspect-envelope.ts';

/** Where the envelope is being opened, and by whom. */
export interface OpenExpectation {
  runId: string;
  step: string;
  recipient: OrgId;
}

export interface OpenOptions {
  expect: OpenExpectation;
  /** The recipient's private receive JWK (OrgKeys.receive.privateJwk); its thumbprint picks our entry. */
  receiveKey: JWK;
  /** The sender's public signing JWK as this site knows (has pinned) it, or undefined if unknown. */
  senderSigningKey: (org: OrgId) => Promise<JWK | undefined>;
  replayGuard: ReplayGuard;
}

/**
 * An opened envelope: its signed binding and the verified body — or, for a body that travels
 * beside it as a blob, what opens that blob (body-stream.ts's openBodyStream with `fileKey`) and
 * the digest and length the blob must have, as the sender signed them.
 */
export type OpenedEnvelope = { binding: EnvelopeBinding } & ({ body: Uint8Array; detached?: never } | { detached: OpenedDetachedBody; body?: never });

export interface OpenedDetachedBody {
  fileKey: Uint8Array;
  digest: string;
  size: number;
}

const CLAIM_MEMBERS = new Set(['runId', 'step', 'from', 'to', 'seq', 'iat', 'body', 'detached']);
const DETACHED_CLAIM_MEMBERS = ['key', 'digest', 'size'];
const JWS_HEADER_MEMBERS = new Set(['alg', 'kid', 'typ']);
const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * Decrypts and verifies an envelope where it is expected, in the order documented above.
 *
 * @throws ParleyError EnvelopeTampered, EnvelopeRecipient, EnvelopeBinding, UnknownSender,
 *   KeyInvalid (the sender's known key is malformed) or EnvelopeReplayed; TypeError for bad options.
 *   Errors from `senderSigningKey` or `replayGuard` propagate unchanged.
 */
export async function openEnvelope(envelope: unknown, options: OpenOptions): Promise<OpenedEnvelope> {
  const { expect, receiveKey, senderSigningKey, replayGuard } = checkOptions(options);

  // 1. shape
  const checked = checkEnvelope(envelope);
  const clear = checked.envelope.binding;
  const ids = { runId: clear.runId, step: clear.step, from: clear.from, seq: clear.seq };
  const size = checked.envelope.jwe.ciphertext.length;
  await nextTurnIfLarge(size);

  // 2. recipient, 3. place
  if (!clear.to.includes(expect.recipient)) throw notAddressed(clear, expect.recipient);
  const ownKid = keyThumbprint(receiveKey);
  const entry = checked.recipientKids.indexOf(ownKid);
  if (entry < 0) throw notSealedForKey(clear, expect.recipient, ownKid);
  if (clear.runId !== expect.runId || clear.step !== expect.step) throw wrongPlace(clear, expect);

  // 4. sender
  const senderJwk = await senderSigningKey(clear.from);
  if (senderJwk === undefined) throw unknownSender(clear, checked.header.skid);
  const keyProblem = jwkProblem(senderJwk, { role: 'sign', visibility: 'public', strict: false });
  if (keyProblem !== undefined) {
    throw new ParleyError(ErrorCode.KeyInvalid, `The signing key known for "${clear.from}" is invalid: it ${keyProblem}. Fetch its published keys again.`, { ...ids, field: 'senderSigningKey' });
  }
  const senderKid = keyThumbprint(senderJwk);
  // Before decrypting: an envelope altered anywhere is refused without touching our private key.
  verifyCheckedSignature(checked, senderJwk);
  // A large envelope's checks hold the event loop for a while: let heartbeats out between them.
  await nextTurnIfLarge(size);

  // 5. decrypt (node-jose.ts: synchronous node:crypto, what jose's generalDecrypt computes)
  const jws = openJwe(checked.envelope.jwe, entry, receiveKey);
  if (jws === undefined) throw tampered('decryption-failed', ids);

  await nextTurnIfLarge(size);
  // 6. verify
  const verified = verifyCompactJws(Buffer.from(jws).toString('latin1'), senderJwk, kindOf(senderJwk, 'sign').alg as SignAlg);
  if (verified === undefined) throw tampered('signature-invalid', ids);
  const header = verified.header;
  if (header.kid !== senderKid) throw tampered('signer-key-mismatch', { ...ids, knownKid: senderKid });
  // A JWS of another type signed by the same key (were it ever used elsewhere) is not a message.
  if (header.typ !== SIGNED_TYPE || Object.keys(header).some((m) => !JWS_HEADER_MEMBERS.has(m))) throw tampered('claims-malformed', ids);
  const payload = verified.payload;

  await nextTurnIfLarge(size);
  // 7. signed claims
  const claims = parseClaims(payload);
  if (claims === undefined) throw tampered('claims-malformed', ids);
  const signed: EnvelopeBinding = { runId: claims.runId, step: claims.step, from: claims.from, to: claims.to, seq: claims.seq };
  if (!sameBinding(signed, clear)) throw tampered('signed-binding-mismatch', ids);
  if (!signed.to.includes(expect.recipient)) throw notAddressed(signed, expect.recipient);
  if (signed.runId !== expect.runId || signed.step !== expect.step) throw wrongPlace(signed, expect);
  // A detached body: the blob the sender signed is the one the clear reference names.
  const clearDetached = checked.envelope.detached;
  if ((claims.detached === undefined) !== (clearDetached === undefined)) throw tampered('detached-mismatch', ids);
  if (claims.detached !== undefined && (claims.detached.digest !== clearDetached!.digest || claims.detached.size !== clearDetached!.size)) {
    throw tampered('detached-mismatch', ids);
  }

  // 8. replay
  await nextTurnIfLarge(size);
  const digest = envelopeDigest(checked.envelope);
  await nextTurnIfLarge(size);
  if (!(await replayGuard.admit(signed, digest))) throw replayedError(signed, 'already opened');

  if (claims.detached !== undefined) {
    const { key, digest, size: blobSize } = claims.detached;
    return { binding: signed, detached: { fileKey: decodeBase64url(key), digest, size: blobSize } };
  }
  return { binding: signed, body: decodeBase64url(claims.body!) };
}

type Claims = EnvelopeBinding & { iat: number; body?: string; detached?: SignedDetachedBody };

function parseClaims(payload: Uint8Array): Claims | undefined {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(payload));
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const claims = value as Record<string, unknown>;
  if (Object.keys(claims).some((m) => !CLAIM_MEMBERS.has(m))) return undefined;
  const { iat, body, detached, ...binding } = claims;
  if (bindingProblem(binding) !== undefined) return undefined;
  if (typeof iat !== 'number' || !Number.isSafeInteger(iat) || iat < 0) return undefined;
  // Exactly one of the two: the body itself, or what reads its blob.
  if (detached === undefined) {
    if (!isBase64url(body)) return undefined;
  } else {
    if (body !== undefined || typeof detached !== 'object' || detached === null) return undefined;
    const members = Object.keys(detached);
    if (members.length !== DETACHED_CLAIM_MEMBERS.length || !DETACHED_CLAIM_MEMBERS.every((m) => members.includes(m))) return undefined;
    const { key, digest, size } = detached as Record<string, unknown>;
    if (!isBase64url(key, FILE_KEY_BYTES) || detachedProblem({ digest, size }) !== undefined) return undefined;
  }
  return claims as unknown as Claims;
}

function checkOptions(options: OpenOptions): OpenOptions {
  if (typeof options !== 'object' || options === null) throw new TypeError('openEnvelope: options must be an object');
  const { expect, receiveKey, senderSigningKey, replayGuard } = options;
  if (typeof expect !== 'object' || expect === null) throw new TypeError('openEnvelope: expect must be an object');
  if (!isRunId(expect.runId)) throw new TypeError('openEnvelope: expect.runId must be a run id');
  if (!isStepId(expect.step)) throw new TypeError('openEnvelope: expect.step must be a step id');
  if (!isOrgId(expect.recipient)) throw new TypeError('openEnvelope: expect.recipient must be an organisation id');
  const problem = jwkProblem(receiveKey, { role: 'receive', visibility: 'private', strict: false });
  if (problem !== undefined) throw new TypeError(`openEnvelope: receiveKey ${problem}`);
  if (typeof senderSigningKey !== 'function') throw new TypeError('openEnvelope: senderSigningKey must be a function');
  if (typeof replayGuard !== 'object' || replayGuard === null || typeof replayGuard.admit !== 'function') {
    throw new TypeError('openEnvelope: replayGuard must have an admit() method');
  }
  return options;
}

function notAddressed(b: EnvelopeBinding, recipient: OrgId): ParleyError {
  return new ParleyError(
    ErrorCode.EnvelopeRecipient,
    `Envelope for run "${b.runId}" step "${b.step}" is addressed to ${b.to.join(', ')}, not to "${recipient}". ` +
      'An envelope opens only for the organisations it was sealed for; check where this input was routed.',
    { runId: b.runId, step: b.step, from: b.from, seq: b.seq, recipient, to: b.to.join(',') },
  );
}

function notSealedForKey(b: EnvelopeBinding, recipient: OrgId, ownKid: string): ParleyError {
  return new ParleyError(
    ErrorCode.EnvelopeRecipient,
    `Envelope for run "${b.runId}" step "${b.step}" names "${recipient}" but was not sealed for its receive key ${fingerprint(ownKid)}. ` +
      `If "${recipient}" changed its receive key, "${b.from}" must seal again with the key now published.`,
    { runId: b.runId, step: b.step, from: b.from, seq: b.seq, recipient, receiveKid: ownKid },
  );
}

function wrongPlace(b: EnvelopeBinding, expect: OpenExpectation): ParleyError {
  return new ParleyError(
    ErrorCode.EnvelopeBinding,
    `Envelope was sealed for run "${b.runId}" step "${b.step}" but is being opened at run "${expect.runId}" step "${expect.step}". ` +
      'An envelope opens only where it was sent; check which step this input belongs to.',
    { runId: b.runId, step: b.step, from: b.from, seq: b.seq, expectedRunId: expect.runId, expectedStep: expect.step },
  );
}

function unknownSender(b: EnvelopeBinding, senderKid: string): ParleyError {
  return new ParleyError(
    ErrorCode.UnknownSender,
    `Envelope for run "${b.runId}" claims to come from "${b.from}", whose signing key is not known here. ` +
      `Fetch "${b.from}"'s published keys (or accept its key change), then retry.`,
    { runId: b.runId, step: b.step, from: b.from, seq: b.seq, senderKid },
  );
}

