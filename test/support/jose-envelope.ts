/**
 * The envelope's old code path, over jose (as crypto/ sealed and opened envelopes before
 * crypto/node-jose.ts): the reference the node:crypto path is cross-checked against. A
 * jose-sealed envelope must open with openEnvelope, and what sealEnvelope seals must decrypt and
 * verify here. Tests only.
 */
import { CompactSign, FlattenedSign, GeneralEncrypt, compactVerify, flattenedVerify, generalDecrypt } from 'jose';
import type { JWK } from 'jose';
import type { Envelope, EnvelopeBinding, GeneralJwe } from '../../common/envelope.ts';
import { canonicalJson } from '../../crypto/canonical-json.ts';
import { checkEnvelope } from '../../crypto/inspect-envelope.ts';
import { keyThumbprint, kindOf } from '../../crypto/jwk-kinds.ts';
import type { SealRecipient, SealSender } from '../../crypto/seal-envelope.ts';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

const signedContent = (e: Pick<Envelope, 'v' | 'binding' | 'jwe'>) => encoder.encode(canonicalJson({ v: e.v, binding: e.binding, jwe: e.jwe }));

/** Seals as the jose code path did: CompactSign, GeneralEncrypt, FlattenedSign (detached). `binding.to` sorted. */
export async function sealWithJose(input: { binding: EnvelopeBinding; body: Uint8Array; sender: SealSender; recipients: SealRecipient[] }): Promise<Envelope> {
  const { binding, body, sender } = input;
  const recipients = [...input.recipients].sort((a, b) => (a.org < b.org ? -1 : 1));
  const signKey = sender.sign.privateJwk;
  const skid = keyThumbprint(signKey);
  const alg = kindOf(signKey, 'sign').alg;
  const claims = { ...binding, iat: Math.floor(Date.now() / 1000), body: Buffer.from(body).toString('base64url') };
  const jws = await new CompactSign(encoder.encode(JSON.stringify(claims))).setProtectedHeader({ alg, kid: skid, typ: 'parley+jws' }).sign(signKey);
  const jwe = new GeneralEncrypt(encoder.encode(jws)).setProtectedHeader({ enc: 'A256GCM', cty: 'parley+jws', skid, parley: binding });
  for (const r of recipients) jwe.addRecipient(r.receiveJwk).setUnprotectedHeader({ alg: 'ECDH-ES+A256KW', kid: keyThumbprint(r.receiveJwk) });
  const unsigned: Pick<Envelope, 'v' | 'binding' | 'jwe'> = { v: 2, binding: { ...binding, to: [...binding.to] }, jwe: (await jwe.encrypt()) as GeneralJwe };
  const outer = await new FlattenedSign(signedContent(unsigned)).setProtectedHeader({ alg, kid: skid, typ: 'parley+envelope' }).sign(signKey);
  return { ...unsigned, sig: `${outer.protected}..${outer.signature}` };
}

/**
 * Opens as the jose code path did: the outer signature (flattenedVerify), our recipient entry
 * (generalDecrypt), the inner JWS (compactVerify). Returns the signed claims; throws jose's error
 * (or checkEnvelope's) when any of them fails.
 */
export async function openWithJose(envelope: unknown, receiveKey: JWK, senderJwk: JWK): Promise<Record<string, unknown>> {
  const checked = checkEnvelope(envelope);
  const algorithms = [kindOf(senderJwk, 'sign').alg];
  await flattenedVerify({ protected: checked.sig.protected, payload: Buffer.from(signedContent(checked.envelope)).toString('base64url'), signature: checked.sig.signature }, senderJwk, { algorithms });
  const entry = checked.recipientKids.indexOf(keyThumbprint(receiveKey));
  if (entry < 0) throw new Error('not sealed for this key');
  const jwe = checked.envelope.jwe;
  const { plaintext } = await generalDecrypt({ ...jwe, recipients: [jwe.recipients[entry]!] }, receiveKey, { keyManagementAlgorithms: ['ECDH-ES+A256KW'], contentEncryptionAlgorithms: ['A256GCM'] });
  const { payload, protectedHeader } = await compactVerify(plaintext, senderJwk, { algorithms });
  if (protectedHeader.kid !== keyThumbprint(senderJwk) || protectedHeader.typ !== 'parley+jws') throw new Error('inner JWS header');
  return JSON.parse(decoder.decode(payload)) as Record<string, unknown>;
}
