import { describe, expect, it } from 'vitest';
import { jsonSyntaxCheck } from './json-syntax.ts';
import { mulberry32 } from '../../scripts/generate-example-data.ts';

const encoder = new TextEncoder();

/** What JSON.parse says of `bytes` (as strictly decoded UTF-8): the reference. */
function parses(bytes: Uint8Array): boolean {
  try {
    JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
    return true;
  } catch {
    return false;
  }
}

/** The checker fed `bytes` in pieces cut at `cuts`. */
function checks(bytes: Uint8Array, cuts: number[] = []): boolean {
  const check = jsonSyntaxCheck();
  let at = 0;
  for (const cut of [...cuts, bytes.length].sort((a, b) => a - b)) {
    check.write(bytes.subarray(at, cut));
    at = cut;
  }
  return check.end();
}

const VALID = ['0', '-0', '1.5e-10', '-12.25E+3', '"text"', '"\\u00e9\\n\\"\\\\/"', 'true', 'false', 'null', '[]', '{}', ' [1, "a", {"b": [null, false]}] ', '{"to":"east","content":{"i":0,"text":"x"}}', '"é ∑ 😀"', '[[[[[]]]]]'];
const INVALID = ['', ' ', '01', '1.', '.5', '-', '1e', '+1', '"unterminated', '"bad \\x escape"', '"\\u12g4"', 'tru', 'nul', 'True', '[1,]', '{"a":1,}', '{"a" 1}', '{a:1}', '[1 2]', '1 2', '{}{}', '"tab\there"', '[', ']', '{"a":}', "'single'", 'NaN', 'Infinity', '[1]]'];

describe('checking that a stream is one JSON text, without building it', () => {
  it.each(VALID)('accepts %s, whole and cut at every byte', (text) => {
    const bytes = encoder.encode(text);
    expect(checks(bytes)).toBe(true);
    for (let cut = 0; cut <= bytes.length; cut++) expect(checks(bytes, [cut])).toBe(true);
  });

  it('checks UTF-8 across pieces of one byte each: characters of two, three and four bytes, cut anywhere', () => {
    const everyByte = (bytes: Uint8Array) => checks(bytes, [...bytes.keys()]);
    expect(everyByte(encoder.encode('["é", "∑", "😀😀", "a😀b"]'))).toBe(true);
    const quoted = (...inner: number[]) => Uint8Array.from([0x22, ...inner, 0x22]);
    for (const bad of [quoted(0xf0, 0x9f, 0x98), quoted(0xc0, 0x80), quoted(0x80), quoted(0xed, 0xa0, 0x80), quoted(0xf5, 0x80, 0x80, 0x80), Uint8Array.from([0x22, 0x61, 0x22, 0x20, 0xe2, 0x88])]) {
      expect(parses(bad)).toBe(false);
      expect(everyByte(bad)).toBe(false);
      expect(checks(bad)).toBe(false);
    }
  });

  it.each(INVALID)('refuses %s, as JSON.parse does', (text) => {
    const bytes = encoder.encode(text);
    expect(parses(bytes)).toBe(false);
    expect(checks(bytes)).toBe(false);
    for (let cut = 0; cut <= bytes.length; cut++) expect(checks(bytes, [cut])).toBe(false);
  });

  it('refuses bytes that are not UTF-8, even inside a string', () => {
    expect(checks(Uint8Array.from([0x22, 0xc3, 0x28, 0x22]))).toBe(false);
    expect(checks(Uint8Array.from([0x22, 0xe2, 0x82]), [2])).toBe(false);
  });

  it('refuses nesting deeper than a parser would take', () => {
    expect(checks(encoder.encode('['.repeat(600) + ']'.repeat(600)))).toBe(false);
  });

  it('agrees with JSON.parse on thousands of one-byte mutations of real messages', () => {
    const random = mulberry32(20261202);
    const samples = VALID.filter((t) => t.length > 4).map((t) => encoder.encode(t));
    let disagreements = 0;
    for (let n = 0; n < 5000; n++) {
      const bytes = Uint8Array.from(samples[n % samples.length]!);
      const at = Math.floor(random() * bytes.length);
      bytes[at] = ' "{}[],:0123456789.eE+-\\utrfalsn\n\t'.charCodeAt(Math.floor(random() * 36));
      if (checks(bytes, [Math.floor(random() * bytes.length)]) !== parses(bytes)) disagreements++;
    }
    expect(disagreements).toBe(0);
  });

  it('checks a large string message fast enough to stream', () => {
    const big = encoder.encode(JSON.stringify({ i: 0, text: 'abcdef0123456789'.repeat(1 << 20) }));
    const check = jsonSyntaxCheck();
    for (let at = 0; at < big.length; at += 65536) check.write(big.subarray(at, at + 65536));
    expect(check.end()).toBe(true);
  });
});
