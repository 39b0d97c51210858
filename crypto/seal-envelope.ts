/**
 * Sealing: the sender signs the body and its binding as a compact JWS, then encrypts that JWS
 * for every recipient as one General JSON JWE (ECDH-ES+A256KW per recipient, A256GCM content).
 * Sign-then-encrypt means only recipients learn who said what; the clear binding in the
 * protected header lets the relay route and auditors read metadata, but it is authenticated by
 * A256GCM and must equal the signed claims when opened. Last, the sender signs the envelope as it
 * travels (envelope-signature.ts), so anyone with its public key can check it was not altered.
 * See envelope-format.ts for the layout.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7516#section-7.2.1 (General JWE JSON)
 * @see https://www.rfc-editor.org/rfc/rfc7518#section-4.6 (ECDH-ES+A256KW)
 */
import type { JWK } from 'jose';
import type { Envelope, EnvelopeBinding } from '../common/envelope.ts';
import { isOrgId } from '../common/ids.ts';
import type { OrgId } from '../common/ids.ts';
import { encodeBase64url } from './base64url.ts';
import { signEnvelope } from './envelope-signature.ts';
import { FILE_KEY_BYTES } from './body-stream.ts';
import { CONTENT_ENC, ENVELOPE_VERSION, SIGNED_TYPE, bindingProblem, copyBinding, detachedProblem, isSeq } from './envelope-format.ts';
import type { EnvelopeProtectedHeader, SignedClaims } from './envelope-format.ts';
import { RECEIVE_ALG, jwkProblem, keyThumbprint, kindOf } from './jwk-kinds.ts';
import { sealJwe, signCompactJws, type SignAlg } from './node-jose.ts';
import { nextTurnIfLarge } from './next-turn.ts';

/** The sender: its id and its private signing key. An OrgKeys fits. */
export interface SealSender {
  org: OrgId;
  sign: { privateJwk: JWK };
}

/** One receiver: its id and its published public receive key. */
export interface SealRecipient {
  org: OrgId;
  receiveJwk: JWK;
}

/**
 * A large body sealed beforehand as a blob (body-stream.ts): its file key and the blob's SHA-256
 * and length. The envelope then carries these in place of the body.
 */
export interface SealedBlobBody {
  fileKey: Uint8Array;
  digest: string;
  size: number;
}

export type SealInput = {
  /** Where the message belongs. `to` must name exactly the recipients' orgs (any order; sealed sorted). */
  binding: EnvelopeBinding;
  sender: SealSender;
  recipients: SealRecipient[];
} & ({ body: Uint8Array; detached?: never } | { detached: SealedBlobBody; body?: never });

const encoder = new TextEncoder();

/**
 * Signs `body` with its binding as the sender and encrypts it for every recipient.
 *
 * @throws TypeError on a programmer error: an invalid id or seq, no or duplicate recipients,
 *   `binding.from` not the sender, `binding.to` not the recipients, or a key of the wrong kind.
 * @example
 * const envelope = await sealEnvelope({
 *   binding: { runId, step: 'sum', from: 'north', to: ['south'], seq: 0 },
 *   body, sender: northKeys, recipients: [{ org: 'south', receiveJwk: south.receive.jwk }],
 * });
 */
export async function sealEnvelope(input: SealInput): Promise<Envelope> {
  const { binding, sender, recipients } = checkInput(input);
  const { body, detached } = input;
  const senderKind = kindOf(sender.sign.privateJwk, 'sign');
  const skid = keyThumbprint(sender.sign.privateJwk);

  const iat = Math.floor(Date.now() / 1000);
  const claims: SignedClaims = detached === undefined
    ? { ...binding, iat, body: encodeBase64url(body!) }
    : { ...binding, iat, detached: { key: encodeBase64url(detached.fileKey), digest: detached.digest, size: detached.size } };
  const size = body?.length ?? 0;
  // Synchronous node:crypto (node-jose.ts), laid out exactly as jose's CompactSign and
  // GeneralEncrypt lay it out; old envelopes and jose open these alike (seal-envelope.test.ts).
  // Between the long synchronous stages of a large envelope, the event loop gets a turn, so the
  // activity's heartbeats keep going (next-turn.ts).
  await nextTurnIfLarge(size);
  const jws = signCompactJws({ alg: senderKind.alg as SignAlg, kid: skid, typ: SIGNED_TYPE }, encoder.encode(JSON.stringify(claims)), sender.sign.privateJwk);
  await nextTurnIfLarge(size);

  const header: EnvelopeProtectedHeader = { enc: CONTENT_ENC, cty: SIGNED_TYPE, skid, parley: binding };
  const jwe = sealJwe({ ...header }, encoder.encode(jws), recipients.map((recipient) => ({
    receiveJwk: recipient.receiveJwk,
    header: { alg: RECEIVE_ALG, kid: keyThumbprint(recipient.receiveJwk) },
  })));
  await nextTurnIfLarge(size);
  const unsigned: Omit<Envelope, 'sig'> = detached === undefined
    ? { v: ENVELOPE_VERSION, binding: copyBinding(binding), jwe }
    : { v: ENVELOPE_VERSION, binding: copyBinding(binding), detached: { digest: detached.digest, size: detached.size }, jwe };
  return { ...unsigned, sig: signEnvelope(unsigned, sender.sign.privateJwk, skid) };
}

// Programmer errors surface here, before any key is used, as TypeErrors (STYLE.md).
function checkInput(input: SealInput): Pick<SealInput, 'binding' | 'sender' | 'recipients'> {
  if (typeof input !== 'object' || input === null) throw new TypeError('sealEnvelope(input): input must be an object');
  const { binding, body, detached, sender, recipients } = input;
  if (typeof binding !== 'object' || binding === null) throw new TypeError('sealEnvelope: binding must be an object');
  if (!isSeq(binding.seq)) throw new TypeError('sealEnvelope: binding.seq must be a non-negative safe integer');
  if (detached === undefined) {
    if (!(body instanceof Uint8Array)) throw new TypeError('sealEnvelope: body must be a Uint8Array');
  } else {
    if (body !== undefined) throw new TypeError('sealEnvelope: give a body or a detached body, not both');
    if (!(detached.fileKey instanceof Uint8Array) || detached.fileKey.length !== FILE_KEY_BYTES) throw new TypeError(`sealEnvelope: detached.fileKey must be ${FILE_KEY_BYTES} bytes`);
    const problem = detachedProblem({ digest: detached.digest, size: detached.size });
    if (problem !== undefined) throw new TypeError(`sealEnvelope: detached ${problem}`);
  }
  if (typeof sender !== 'object' || sender === null || !isOrgId(sender.org)) throw new TypeError('sealEnvelope: sender.org must be an organisation id');
  if (binding.from !== sender.org) throw new TypeError(`sealEnvelope: binding.from must be the sender "${sender.org}"`);
  const signProblem = jwkProblem(sender.sign?.privateJwk, { role: 'sign', visibility: 'private', strict: false });
  if (signProblem !== undefined) throw new TypeError(`sealEnvelope: sender.sign.privateJwk ${signProblem}`);

  if (!Array.isArray(recipients) || recipients.length === 0) throw new TypeError('sealEnvelope: recipients must be a non-empty array');
  const sorted = [...recipients].sort((a, b) => (a.org < b.org ? -1 : a.org > b.org ? 1 : 0));
  sorted.forEach((recipient, i) => {
    if (typeof recipient !== 'object' || recipient === null || !isOrgId(recipient.org)) {
      throw new TypeError('sealEnvelope: every recipient needs an organisation id as org');
    }
    if (i > 0 && sorted[i - 1]!.org === recipient.org) throw new TypeError(`sealEnvelope: recipient "${recipient.org}" is listed twice`);
    const problem = jwkProblem(recipient.receiveJwk, { role: 'receive', visibility: 'public', strict: false });
    if (problem !== undefined) throw new TypeError(`sealEnvelope: receiveJwk of recipient "${recipient.org}" ${problem}`);
  });

  const to = sorted.map((r) => r.org);
  const givenTo: unknown = binding.to;
  if (!Array.isArray(givenTo) || givenTo.length !== to.length || [...givenTo].sort().some((org, i) => org !== to[i])) {
    throw new TypeError(`sealEnvelope: binding.to must name exactly the recipients (${to.join(', ')})`);
  }
  const sealed: EnvelopeBinding = { runId: binding.runId, step: binding.step, from: binding.from, to, seq: binding.seq };
  const problem = bindingProblem(sealed);
  if (problem !== undefined) throw new TypeError(`sealEnvelope: binding.${problem}`);
  return { binding: sealed, sender, recipients: sorted };
}
