/**
 * The envelope as it travels between parts (workflow history, API, files). Only ciphertext and
 * routing metadata: the binding here is a clear copy for routing and auditing, authenticated as
 * the JWE protected header; the authoritative copy is signed by the sender inside the ciphertext.
 * The sender also signs the whole envelope as it travels (`sig`), so anyone holding its public
 * key — an auditor with no private key — can tell an altered or forged envelope from a genuine one.
 */
import type { OrgId } from './ids.ts';

/** Where a message belongs: opening it anywhere else is an error. */
export interface EnvelopeBinding {
  runId: string;
  step: string;
  from: OrgId;
  /** Every recipient, sorted; each can open it with its own receive key. */
  to: OrgId[];
  /** The sender's sequence number within the run, from 0, without gaps. */
  seq: number;
}

/** A JWE in General JSON serialisation (RFC 7516 §7.2.1). */
export interface GeneralJwe {
  protected: string;
  unprotected?: Record<string, unknown>;
  recipients: Array<{ header?: Record<string, unknown>; encrypted_key?: string }>;
  iv: string;
  ciphertext: string;
  tag: string;
  aad?: string;
}

/**
 * A large body that travels beside its envelope as a blob, encrypted as a stream
 * (crypto/body-stream.ts) under a key that only the envelope's signed claims carry. The blob's
 * SHA-256 and length are in the clear here, under the outer signature, so anyone with the
 * sender's public key can check a blob against its envelope; a recipient also finds them in the
 * signed claims.
 */
export interface DetachedBodyRef {
  /** SHA-256 (base64url) of the blob's bytes. */
  digest: string;
  /** The blob's length in bytes. */
  size: number;
}

/** A sealed message: a compact JWS by the sender nested in a JWE for the recipients. */
export interface Envelope {
  /** 2: with the outer signature `sig` (version 1 had none, and is no longer accepted). */
  v: 2;
  binding: EnvelopeBinding;
  /** Present when the body travels beside the envelope as a blob; then the JWE holds its key, not the body. */
  detached?: DetachedBodyRef;
  jwe: GeneralJwe;
  /**
   * The sender's detached compact JWS (RFC 7515 Appendix F, `<header>..<signature>`) over the
   * canonical JSON of `{ v, binding, detached, jwe }`: every byte of the envelope but this one.
   */
  sig: string;
}

/**
 * Where a sealed envelope too large for the workflow history travels instead (DESIGN.md "Large
 * payloads"): the blob store holds the envelope's canonical JSON (ciphertext only), and the
 * history this reference. `kind` keeps a reference from ever being taken for an envelope (an
 * envelope has no `kind`; a reference has no `jwe`). The binding is the clear copy, as on an
 * inline envelope: the opener checks it against the fetched envelope's own.
 */
export interface EnvelopeRef {
  kind: 'blob';
  /** SHA-256 (base64url) of the blob's bytes: the envelope's canonical JSON, UTF-8. */
  digest: string;
  /** The blob's length in bytes. */
  size: number;
  binding: EnvelopeBinding;
}

/** What a step's outcome carries for each message: the envelope itself, or a reference to its blob. */
export type SealedMessage = Envelope | EnvelopeRef;

/** True when `message` is a reference to a blob rather than an inline envelope. */
export function isEnvelopeRef(message: SealedMessage): message is EnvelopeRef {
  return (message as { kind?: unknown }).kind === 'blob';
}
