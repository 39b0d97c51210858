import { describe, expect, it } from 'vitest';
import { decodeBase64url, encodeBase64url, isBase64url } from './base64url.ts';

describe('isBase64url', () => {
  it('accepts exactly the canonical spelling of some bytes', () => {
    for (let length = 0; length <= 34; length++) {
      const bytes = Uint8Array.from({ length }, (_, i) => (i * 37 + length) & 0xff);
      const text = encodeBase64url(bytes);
      expect(isBase64url(text)).toBe(true);
      expect(isBase64url(text, length)).toBe(true);
      expect(decodeBase64url(text)).toEqual(bytes);
    }
  });

  it('refuses spare bits in the last character, so one value has one spelling', () => {
    // "AA" is one zero byte; "AB" decodes to the same byte with a spare bit set.
    expect(isBase64url('AA')).toBe(true);
    expect(isBase64url('AB')).toBe(false);
    expect(isBase64url('AAA')).toBe(true);
    expect(isBase64url('AAB')).toBe(false);
    expect(isBase64url('AAE')).toBe(true);
  });

  it('refuses padding, other alphabets, impossible lengths and wrong byte counts', () => {
    expect(isBase64url('AA==')).toBe(false);
    expect(isBase64url('A+/A')).toBe(false);
    expect(isBase64url('AAAAA')).toBe(false);
    expect(isBase64url('AAAA', 4)).toBe(false);
    expect(isBase64url(42)).toBe(false);
  });
});
