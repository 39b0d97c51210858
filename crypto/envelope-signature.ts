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
// jose's base64 is native-speed only with these (./base64-builtins.ts says why).
import './base64-builtins.ts';
import { FlattenedSign, flattenedVerify } from 'jose';
import type { JWK } from 'jose';
import type { Envelope } from '../common/envelope.ts';
import { ParleyError } from '../common/errors.ts';
import { canonicalJson } from './canonical-json.ts';
import { ENVELOPE_SIG_TYPE, tampered } from './envelope-format.ts';
import type { CheckedEnvelope } from './inspect-envelope.ts';
import { kindOf, keyThumbprint } from './jwk-kinds.ts';
import { nextTurnIfLarge } from './next-turn.ts';

const encoder = new TextEncoder();

/** What the outer signature covers: the canonical JSON of the envelope without `sig`, base64url. */
function signedContent(envelope: Pick<Envelope, 'v' | 'binding' | 'jwe'>): Uint8Array {
  return encoder.encode(canonicalJson({ v: envelope.v, binding: envelope.binding, jwe: envelope.jwe }));
}

/** Signs a sealed envelope as its sender; returns the detached compact JWS for `sig`. */
export async function signEnvelope(unsigned: Pick<Envelope, 'v' | 'binding' | 'jwe'>, signKey: JWK, skid: string): Promise<string> {
  const content = signedContent(unsigned);
  await nextTurnIfLarge(content.length);
  const jws = await new FlattenedSign(content)
    .setProtectedHeader({ alg: kindOf(signKey, 'sign').alg, kid: skid, typ: ENVELOPE_SIG_TYPE })
    .sign(signKey);
  return `${jws.protected}..${jws.signature}`;
}

/**
 * Verifies a checked envelope's outer signature with the sender's public signing key, whose
 * thumbprint must be the one the envelope names (`skid`, and the outer JWS's `kid`).
 *
 * @throws ParleyError EnvelopeTampered: reason `signer-key-mismatch` or `envelope-signature-invalid`.
 */
export async function verifyCheckedSignature(checked: CheckedEnvelope, senderJwk: JWK): Promise<void> {
  const { envelope, header, sig } = checked;
  const ids = { runId: envelope.binding.runId, step: envelope.binding.step, from: envelope.binding.from, seq: envelope.binding.seq };
  const senderKid = keyThumbprint(senderJwk);
  if (header.skid !== senderKid) throw tampered('signer-key-mismatch', { ...ids, signerKid: header.skid, knownKid: senderKid });
  try {
    const content = signedContent(envelope);
    await nextTurnIfLarge(content.length);
    const payload = Buffer.from(content.buffer, content.byteOffset, content.byteLength).toString('base64url');
    await nextTurnIfLarge(content.length);
    const verified = await flattenedVerify(
      { protected: sig.protected, payload, signature: sig.signature },
      senderJwk,
      { algorithms: [kindOf(senderJwk, 'sign').alg] },
    );
    if (verified.protectedHeader?.kid !== senderKid) throw tampered('signer-key-mismatch', { ...ids, knownKid: senderKid });
  } catch (err) {
    if (err instanceof ParleyError) throw err;
    throw tampered('envelope-signature-invalid', ids);
  }
}
