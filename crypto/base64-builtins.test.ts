import { describe, expect, it } from 'vitest';
import './base64-builtins.ts';

type WithBase64 = Uint8Array & { toBase64(options?: { alphabet?: 'base64' | 'base64url'; omitPadding?: boolean }): string };
const fromBase64 = (Uint8Array as unknown as { fromBase64(text: string, options?: { alphabet?: 'base64' | 'base64url' }): Uint8Array }).fromBase64;
const bytesOf = (text: string) => new Uint8Array(Buffer.from(text, 'latin1')) as WithBase64;

describe('Uint8Array base64 built-ins over Buffer', () => {
  // RFC 4648 §10's test vectors.
  const vectors: Array<[string, string]> = [['', ''], ['f', 'Zg=='], ['fo', 'Zm8='], ['foo', 'Zm9v'], ['foob', 'Zm9vYg=='], ['fooba', 'Zm9vYmE='], ['foobar', 'Zm9vYmFy']];
  it.each(vectors)('encodes and decodes RFC 4648 §10\'s %j as %j', (plain, encoded) => {
    expect(bytesOf(plain).toBase64()).toBe(encoded);
    expect(bytesOf(plain).toBase64({ alphabet: 'base64url', omitPadding: true })).toBe(encoded.replace(/=+$/, ''));
    expect(Buffer.from(fromBase64(encoded)).toString('latin1')).toBe(plain);
    expect(Buffer.from(fromBase64(encoded.replace(/=+$/, ''), { alphabet: 'base64url' })).toString('latin1')).toBe(plain);
  });

  it('uses the URL alphabet only when asked, as jose asks for JOSE', () => {
    const bytes = new Uint8Array([0xfb, 0xff, 0xbf]) as WithBase64;
    expect(bytes.toBase64()).toBe('+/+/');
    expect(bytes.toBase64({ alphabet: 'base64url' })).toBe('-_-_');
    expect([...fromBase64('-_-_', { alphabet: 'base64url' })]).toEqual([0xfb, 0xff, 0xbf]);
  });

  it.each([
    ['a character of neither alphabet', 'Zm9$', 'base64url'],
    ['the other alphabet\'s characters', '+/+/', 'base64url'],
    ['the other alphabet\'s characters', '-_-_', 'base64'],
    ['padding inside', 'Zg==Zm9v', 'base64'],
    ['whitespace', 'Zm9v YmFy', 'base64'],
    ['an impossible length', 'Zm9vY', 'base64url'],
  ] as const)('refuses %s (%j) with a SyntaxError, where Buffer alone would skip it', (_why, text, alphabet) => {
    expect(() => fromBase64(text, { alphabet })).toThrow(SyntaxError);
  });

  it('hands out bytes that own their memory, not a view of Buffer\'s shared pool', () => {
    const bytes = fromBase64('Zm9vYmFy');
    expect(bytes.byteOffset).toBe(0);
    expect(bytes.buffer.byteLength).toBe(6);
  });
});
