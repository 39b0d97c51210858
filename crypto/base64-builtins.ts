/**
 * `Uint8Array.prototype.toBase64` and `Uint8Array.fromBase64` (TC39 "Uint8Array to/from base64",
 * ECMAScript 2026) over Node's native Buffer codec, installed only where the engine lacks them
 * (Node 20 and 22 do). jose (panva/jose, lib/buffer_utils.js) uses them when present and
 * otherwise falls back to String.fromCharCode + btoa and atob + a per-byte loop: for a 100 MiB
 * message (an envelope of about 240 MiB, base64url twice over) that fallback alone blocked a site
 * worker's event loop for over 30 s, past Temporal's heartbeat timeout. The envelopes are byte for
 * byte the same either way: base64 has one spelling per byte string, and Parley's own strict
 * checks (base64url.ts) still run before anything is decoded.
 *
 * Only the options jose passes are supported (`alphabet`, `omitPadding`); decoding is strict in
 * the alphabet and the length, as the standard's default (any other character is a SyntaxError),
 * and stricter in one point: whitespace, which the standard skips and JOSE never has, is refused.
 *
 * @see https://tc39.es/proposal-arraybuffer-base64/spec/
 * @see https://www.rfc-editor.org/rfc/rfc4648#section-5
 */

type Alphabet = 'base64' | 'base64url';

interface Base64Uint8Array {
  toBase64?: (options?: { alphabet?: Alphabet; omitPadding?: boolean }) => string;
}
interface Base64Uint8ArrayConstructor {
  fromBase64?: (text: string, options?: { alphabet?: Alphabet }) => Uint8Array;
}

function toBase64(this: Uint8Array, options: { alphabet?: Alphabet; omitPadding?: boolean } = {}): string {
  const alphabet = options.alphabet ?? 'base64';
  if (alphabet !== 'base64' && alphabet !== 'base64url') throw new TypeError('toBase64: alphabet must be "base64" or "base64url"');
  const bytes = Buffer.from(this.buffer, this.byteOffset, this.byteLength);
  if (alphabet === 'base64url') {
    const text = bytes.toString('base64url'); // Node writes base64url unpadded
    return options.omitPadding ? text : text.padEnd(Math.ceil(text.length / 4) * 4, '=');
  }
  const text = bytes.toString('base64');
  return options.omitPadding ? text.replace(/=+$/, '') : text;
}

function fromBase64(text: string, options: { alphabet?: Alphabet } = {}): Uint8Array {
  if (typeof text !== 'string') throw new TypeError('fromBase64: input must be a string');
  const alphabet = options.alphabet ?? 'base64';
  if (alphabet !== 'base64' && alphabet !== 'base64url') throw new TypeError('fromBase64: alphabet must be "base64" or "base64url"');
  // Buffer's decoder skips characters outside the alphabet, and takes either alphabet's; the
  // standard refuses both. Checked without a regular expression (which costs a second per
  // 200 MB): no character of the other alphabet (indexOf is a vectorised scan), '=' only as
  // padding at the end, and every other character decoded (a skipped one shortens the result).
  const unpadded = text.length - (text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0);
  const [one, two] = alphabet === 'base64' ? ['-', '_'] : ['+', '/'];
  const eq = text.indexOf('=');
  if (text.includes(one) || text.includes(two) || (eq !== -1 && eq < unpadded) || unpadded % 4 === 1 || (unpadded !== text.length && text.length % 4 !== 0)) {
    throw new SyntaxError('fromBase64: not base64 in the given alphabet');
  }
  const bytes = Buffer.from(text, alphabet);
  if (bytes.byteLength !== Math.floor((unpadded * 3) / 4)) throw new SyntaxError('fromBase64: not base64 in the given alphabet');
  // A small Buffer is a view into Node's shared pool: hand out a copy that owns its memory.
  return bytes.byteLength === bytes.buffer.byteLength ? new Uint8Array(bytes.buffer) : new Uint8Array(bytes);
}

/** Installs the two where missing; idempotent. */
export function installBase64Builtins(): void {
  const proto = Uint8Array.prototype as Base64Uint8Array;
  if (typeof proto.toBase64 !== 'function') {
    Object.defineProperty(Uint8Array.prototype, 'toBase64', { value: toBase64, writable: true, configurable: true });
  }
  const ctor = Uint8Array as unknown as Base64Uint8ArrayConstructor;
  if (typeof ctor.fromBase64 !== 'function') {
    Object.defineProperty(Uint8Array, 'fromBase64', { value: fromBase64, writable: true, configurable: true });
  }
}

installBase64Builtins();
