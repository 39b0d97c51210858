/**
 * Checking an envelope without any private key: its shape and its sender's outer signature over
 * every byte of it. For auditors (`parley audit verify`), the codec server, and anyone relaying
 * envelopes who wants to refuse forgeries early. It does not decrypt, so it says nothing about
 * the plaintext; a recipient's openEnvelope checks that too.
 */
import type { JWK } from 'jose';
import { verifyCheckedSignature } from './envelope-signature.ts';
import { checkEnvelope, inspectEnvelope, type EnvelopeInfo } from './inspect-envelope.ts';
import { jwkProblem } from './jwk-kinds.ts';

/**
 * The envelope's clear metadata, once its outer signature verified with `senderSigningKey` (the
 * public signing key published for `binding.from`).
 *
 * @throws ParleyError EnvelopeTampered (details.reason: malformed, clear-binding-mismatch,
 *   signer-key-mismatch, envelope-signature-invalid); TypeError when the key is not a public
 *   signing key.
 */
export async function verifyEnvelopeSignature(envelope: unknown, senderSigningKey: JWK): Promise<EnvelopeInfo> {
  const problem = jwkProblem(senderSigningKey, { role: 'sign', visibility: 'public', strict: false });
  if (problem !== undefined) throw new TypeError(`verifyEnvelopeSignature: senderSigningKey ${problem}`);
  const checked = checkEnvelope(envelope);
  verifyCheckedSignature(checked, senderSigningKey);
  return inspectEnvelope(checked.envelope);
}
