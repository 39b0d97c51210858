/**
 * Sealing bytes for one organisation's own receive key (a compact JWE, ECDH-ES+A256KW, A256GCM),
 * for what a site records about itself but must not show the relay: its failures' messages and
 * stack traces (which may quote an algorithm's log). Not an envelope: no sender, no binding.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7516#section-7.1 (compact serialisation)
 */
import { CompactEncrypt, compactDecrypt } from 'jose';
import type { JWK } from 'jose';
import { CONTENT_ENC } from './envelope-format.ts';
import { RECEIVE_ALG, keyThumbprint } from './jwk-kinds.ts';

/** `bytes` encrypted for the holder of `receiveJwk`'s private half. */
export function sealForSelf(bytes: Uint8Array, receiveJwk: JWK): Promise<string> {
  return new CompactEncrypt(bytes).setProtectedHeader({ alg: RECEIVE_ALG, enc: CONTENT_ENC, kid: keyThumbprint(receiveJwk) }).encrypt(receiveJwk);
}

/** The bytes sealed by {@link sealForSelf}; undefined when they do not decrypt with this key. */
export async function openForSelf(jwe: string, receivePrivateJwk: JWK): Promise<Uint8Array | undefined> {
  try {
    const { plaintext } = await compactDecrypt(jwe, receivePrivateJwk, { keyManagementAlgorithms: [RECEIVE_ALG], contentEncryptionAlgorithms: [CONTENT_ENC] });
    return plaintext;
  } catch {
    return undefined;
  }
}
