/**
 * The envelope's outer signature: the sender signs the envelope exactly as it travels — the clear
 * binding and every member of the JWE (protected header, recipients' wrapped keys and ephemeral
 * keys, iv, ciphertext, tag) — as a detached JWS (RFC 7515 Appendix F) over its canonical JSON.
 *
 * Why, when the inner JWS already signs the plaintext: only recipients can check the inner one.
 * The outer one lets anyone with the sender's public key — an auditor, the relay, a codec server —
 * tell a genuine envelope from one altered in the history, without any private key. Both stay:
 * the inner signature binds the plaintext to the sender, which the outer cannot show without
 * decrypting, and a recipient that re-encrypts what it received cannot re-sign it as the sender.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7515#appendix-F (detached content)
 */
import type { JWK } from 'jose';
import type { Envelope } from '../common/envelope.ts';
import { canonicalJson } from './canonical-json.ts';
import { ENVELOPE_SIG_TYPE, tampered } from './envelope-format.ts';
import type { CheckedEnvelope } from './inspect-envelope.ts';
import { kindOf, keyThumbprint } from './jwk-kinds.ts';
import { signJws, verifyJws, type SignAlg } from './node-jose.ts';

const encoder = new TextEncoder();

/** What the outer signature covers: the canonical JSON of the envelope without `sig` (a detached body's reference included). */
function signedContent(envelope: Unsigned): Uint8Array {
  return encoder.encode(canonicalJson({ v: envelope.v, binding: envelope.binding, detached: envelope.detached, jwe: envelope.jwe }));
}

type Unsigned = Pick<Envelope, 'v' | 'binding' | 'jwe' | 'detached'>;

/**
 * Signs a sealed envelope as its sender; returns the detached compact JWS for `sig`. Over
 * synchronous node:crypto (node-jose.ts), the same JWS as jose's FlattenedSign.
 */
export function signEnvelope(unsigned: Unsigned, signKey: JWK, skid: string): string {
  const jws = signJws({ alg: kindOf(signKey, 'sign').alg as SignAlg, kid: skid, typ: ENVELOPE_SIG_TYPE }, signedContent(unsigned), signKey);
  return `${jws.protected}..${jws.signature}`;
}

/**
 * Verifies a checked envelope's outer signature with the sender's public signing key, whose
 * thumbprint must be the one the envelope names (`skid`, and the outer JWS's `kid`).
 * Synchronous, over node:crypto (node-jose.ts).
 *
 * @throws ParleyError EnvelopeTampered: reason `signer-key-mismatch` or `envelope-signature-invalid`.
 */
export function verifyCheckedSignature(checked: CheckedEnvelope, senderJwk: JWK): void {
  const { envelope, header, sig } = checked;
  const ids = { runId: envelope.binding.runId, step: envelope.binding.step, from: envelope.binding.from, seq: envelope.binding.seq };
  const senderKid = keyThumbprint(senderJwk);
  if (header.skid !== senderKid) throw tampered('signer-key-mismatch', { ...ids, signerKid: header.skid, knownKid: senderKid });
  const payload = Buffer.from(signedContent(envelope)).toString('base64url');
  const verified = verifyJws({ protected: sig.protected, payload, signature: sig.signature }, senderJwk, kindOf(senderJwk, 'sign').alg as SignAlg);
  if (verified === undefined) throw tampered('envelope-signature-invalid', ids);
  if (verified.kid !== senderKid) throw tampered('signer-key-mismatch', { ...ids, knownKid: senderKid });
}
