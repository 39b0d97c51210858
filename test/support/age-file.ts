/**
 * Whole age files (C2SP age v1, https://age-encryption.org/v1) around Parley's streamed body,
 * so that the reference implementation's CLI can check crypto/body-stream.ts both ways: a body
 * Parley sealed opens with `age -d`, and a file `age -e` wrote opens with openBodyStream.
 *
 * Parley itself never writes an age header: the file key travels inside the envelope's signed
 * claims (crypto/seal-envelope.ts), and only the payload (nonce ‖ STREAM chunks) is a blob. This
 * test helper adds the one header age needs, an X25519 recipient stanza (spec "X25519 recipient
 * stanza") and the header MAC (spec "Header"), with bech32 keys (BIP 173) as age-keygen writes them.
 */
import { createCipheriv, createDecipheriv, createHmac, createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync, type KeyObject } from 'node:crypto';

const VERSION_LINE = 'age-encryption.org/v1';
const X25519_INFO = 'age-encryption.org/v1/X25519';
// DER prefixes of an X25519 key in PKCS #8 and SPKI (RFC 8410 §7), before its 32 raw bytes.
const PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');

/** An age X25519 key pair as age-keygen prints it, with its raw bytes. */
export interface AgeIdentity {
  /** `AGE-SECRET-KEY-1…`, the identity file's line. */
  identity: string;
  /** `age1…`, what `age -r` takes. */
  recipient: string;
  secret: Buffer;
  public: Buffer;
}

export function newAgeIdentity(): AgeIdentity {
  const { privateKey, publicKey } = generateKeyPairSync('x25519');
  const secret = privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(PKCS8_PREFIX.length);
  const pub = publicKey.export({ format: 'der', type: 'spki' }).subarray(SPKI_PREFIX.length);
  return { identity: bech32Encode('AGE-SECRET-KEY-', secret).toUpperCase(), recipient: bech32Encode('age', pub), secret, public: pub };
}

/** The age file of a payload Parley sealed under `fileKey`, for `recipient` (an `age1…` string). */
export function ageFileOf(fileKey: Buffer, payload: Buffer, recipient: string): Buffer {
  const recipientKey = bech32Decode('age', recipient);
  const ephemeral = generateKeyPairSync('x25519');
  const share = ephemeral.publicKey.export({ format: 'der', type: 'spki' }).subarray(SPKI_PREFIX.length);
  const shared = diffieHellman({ privateKey: ephemeral.privateKey, publicKey: x25519Public(recipientKey) });
  const wrapKey = hkdf(shared, Buffer.concat([share, recipientKey]), X25519_INFO);
  const body = chacha20poly1305Seal(wrapKey, fileKey);
  const header = `${VERSION_LINE}\n-> X25519 ${b64(share)}\n${wrapLines(b64(body))}\n---`;
  return Buffer.concat([Buffer.from(`${header} ${b64(headerMac(fileKey, header))}\n`), payload]);
}

/** The file key and the payload of an age file for `identity` (one X25519 stanza, as `age -e -r` writes). */
export function openAgeFile(file: Buffer, identity: string): { fileKey: Buffer; payload: Buffer } {
  const end = file.indexOf('\n---');
  if (end < 0) throw new Error('not an age file: no header end');
  const macLineEnd = file.indexOf('\n', end + 1);
  const header = file.subarray(0, end + 4).toString('latin1');
  const mac = Buffer.from(file.subarray(end + 5, macLineEnd).toString('latin1'), 'base64');
  const lines = header.split('\n');
  if (lines[0] !== VERSION_LINE) throw new Error(`not an age v1 file: ${lines[0]}`);
  const stanza = lines[1]!.split(' ');
  if (stanza[0] !== '->' || stanza[1] !== 'X25519') throw new Error(`expected one X25519 stanza, found: ${lines[1]}`);
  const share = Buffer.from(stanza[2]!, 'base64');
  const body = Buffer.from(lines.slice(2, -1).join(''), 'base64');
  const secret = bech32Decode('age-secret-key-', identity.toLowerCase());
  const ownPublic = createPublicKey(x25519Private(secret)).export({ format: 'der', type: 'spki' }).subarray(SPKI_PREFIX.length);
  const shared = diffieHellman({ privateKey: x25519Private(secret), publicKey: x25519Public(share) });
  const fileKey = chacha20poly1305Open(hkdf(shared, Buffer.concat([share, ownPublic]), X25519_INFO), body);
  if (!headerMac(fileKey, header).equals(mac)) throw new Error('age header MAC does not match');
  return { fileKey, payload: file.subarray(macLineEnd + 1) };
}

function headerMac(fileKey: Buffer, header: string): Buffer {
  return createHmac('sha256', hkdf(fileKey, Buffer.alloc(0), 'header')).update(header, 'latin1').digest();
}

function hkdf(ikm: Buffer, salt: Buffer, info: string): Buffer {
  return Buffer.from(hkdfSync('sha256', ikm, salt, info, 32));
}

// Stanza bodies are sealed under a key used once, so the nonce is all zeroes (spec "X25519").
function chacha20poly1305Seal(key: Buffer, plaintext: Buffer): Buffer {
  const cipher = createCipheriv('chacha20-poly1305', key, Buffer.alloc(12), { authTagLength: 16 });
  return Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
}

function chacha20poly1305Open(key: Buffer, sealed: Buffer): Buffer {
  const decipher = createDecipheriv('chacha20-poly1305', key, Buffer.alloc(12), { authTagLength: 16 });
  decipher.setAuthTag(sealed.subarray(-16));
  return Buffer.concat([decipher.update(sealed.subarray(0, -16)), decipher.final()]);
}

const x25519Private = (raw: Buffer): KeyObject => createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, raw]), format: 'der', type: 'pkcs8' });
const x25519Public = (raw: Buffer): KeyObject => createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: 'der', type: 'spki' });

/** Unpadded standard base64, as age writes it. */
const b64 = (bytes: Buffer): string => bytes.toString('base64').replace(/=+$/, '');

/** Base64 wrapped at 64 columns; a body that fills its last line whole ends with an empty one. */
function wrapLines(text: string): string {
  const lines: string[] = [];
  for (let i = 0; i <= text.length; i += 64) lines.push(text.slice(i, i + 64));
  return lines.join('\n');
}

// Bech32 (BIP 173), as age keys are written: the checksum and 5-bit regrouping.
const CHARSET = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';
const GENERATORS = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];

function polymod(values: number[]): number {
  let chk = 1;
  for (const v of values) {
    const top = chk >>> 25;
    chk = ((chk & 0x1ffffff) << 5) ^ v;
    GENERATORS.forEach((g, i) => {
      if ((top >>> i) & 1) chk ^= g;
    });
  }
  return chk >>> 0;
}

const hrpExpand = (hrp: string): number[] => [...[...hrp].map((c) => c.charCodeAt(0) >> 5), 0, ...[...hrp].map((c) => c.charCodeAt(0) & 31)];

function regroup(data: Iterable<number>, from: number, to: number, pad: boolean): number[] {
  let acc = 0;
  let bits = 0;
  const out: number[] = [];
  for (const value of data) {
    acc = (acc << from) | value;
    bits += from;
    while (bits >= to) {
      bits -= to;
      out.push((acc >> bits) & ((1 << to) - 1));
    }
  }
  if (pad && bits > 0) out.push((acc << (to - bits)) & ((1 << to) - 1));
  return out;
}

function bech32Encode(hrp: string, bytes: Buffer): string {
  const lower = hrp.toLowerCase();
  const data = regroup(bytes, 8, 5, true);
  const mod = polymod([...hrpExpand(lower), ...data, 0, 0, 0, 0, 0, 0]) ^ 1;
  const checksum = [0, 1, 2, 3, 4, 5].map((i) => (mod >> (5 * (5 - i))) & 31);
  return `${lower}1${[...data, ...checksum].map((d) => CHARSET[d]).join('')}`;
}

function bech32Decode(hrp: string, text: string): Buffer {
  const lower = text.toLowerCase();
  const at = lower.lastIndexOf('1');
  if (lower.slice(0, at) !== hrp.toLowerCase()) throw new Error(`expected a bech32 string of "${hrp}", got "${lower.slice(0, at)}"`);
  const data = [...lower.slice(at + 1)].map((c) => CHARSET.indexOf(c));
  if (data.some((d) => d < 0) || polymod([...hrpExpand(hrp.toLowerCase()), ...data]) !== 1) throw new Error('bech32 checksum does not match');
  return Buffer.from(regroup(data.slice(0, -6), 5, 8, false));
}
