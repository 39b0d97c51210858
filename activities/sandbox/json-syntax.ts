/**
 * Checks that a stream of bytes is one JSON text (RFC 8259), piece by piece, without building
 * it: the node socket streams a large message's content straight to its spill file and needs to
 * know it is JSON — what the step contract promises the receiving container — without ever
 * holding it whole. UTF-8 is checked beside it with node:buffer's isUtf8 (simdutf, no string
 * made), the few bytes of a character cut between two pieces carried to the next.
 *
 * @see https://www.rfc-editor.org/rfc/rfc8259 (the grammar followed state by state below)
 */

import { isUtf8 } from 'node:buffer';

/** Nesting deeper than this is refused, as a parser's stack would refuse it. */
const MAX_DEPTH = 512;

type Expect =
  | 'value' // a value must come (after ':' or '[' or ',' in an array, or at the start)
  | 'value-or-close' // just after '['
  | 'key-or-close' // just after '{'
  | 'key' // after ',' in an object
  | 'colon'
  | 'after-value' // ',' or the container's close, or the end at the top
  | 'string' // inside a string
  | 'escape' // after '\' in a string
  | 'unicode' // inside \uXXXX
  | 'number'
  | 'literal';

const isWhitespace = (c: number) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
const ESCAPES = new Set([0x22, 0x5c, 0x2f, 0x62, 0x66, 0x6e, 0x72, 0x74]);
const isDigit = (c: number) => c >= 0x30 && c <= 0x39;
const isHex = (c: number) => isDigit(c) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);

/**
 * Where a number is in its grammar (RFC 8259 §6: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`),
 * one state per byte, so that nothing of it is kept: after '-', after a leading 0, in the integer
 * digits, after '.', in the fraction, after 'e', after its sign, in the exponent.
 */
const enum Num { Minus, Zero, Int, Dot, Frac, E, ESign, Exp }
/** The states a number may end in. */
const numberMayEnd = (n: Num) => n === Num.Zero || n === Num.Int || n === Num.Frac || n === Num.Exp;
/** The state after `c`, or undefined when `c` does not continue the number (it ends, or is an error). */
function nextNumberState(n: Num, c: number): Num | undefined {
  const digit = isDigit(c);
  switch (n) {
    case Num.Minus:
      return c === 0x30 ? Num.Zero : digit ? Num.Int : undefined;
    case Num.Zero:
    case Num.Int:
      if (digit) return n === Num.Int ? Num.Int : undefined;
      return c === 0x2e ? Num.Dot : c === 0x65 || c === 0x45 ? Num.E : undefined;
    case Num.Dot:
      return digit ? Num.Frac : undefined;
    case Num.Frac:
      return digit ? Num.Frac : c === 0x65 || c === 0x45 ? Num.E : undefined;
    case Num.E:
      return c === 0x2b || c === 0x2d ? Num.ESign : digit ? Num.Exp : undefined;
    case Num.ESign:
    case Num.Exp:
      return digit ? Num.Exp : undefined;
  }
}

/** How many bytes at the end of `bytes` begin a UTF-8 character that the next piece completes. */
function cutCharacterBytes(bytes: Uint8Array): number {
  for (let back = 1; back <= Math.min(3, bytes.length); back++) {
    const c = bytes[bytes.length - back]!;
    if ((c & 0xc0) === 0x80) continue; // a continuation byte: its lead is further back
    const length = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
    return length > back ? back : 0;
  }
  return 0; // three continuation bytes at the end: complete, or invalid, which isUtf8 tells
}

/** A checker fed piece by piece; `end()` says whether all it was fed is one JSON text. */
export interface JsonSyntaxCheck {
  /** Feeds the next bytes; false once they can no longer be the start of a JSON text. */
  write(bytes: Uint8Array): boolean;
  /** True when everything written is exactly one JSON text (whitespace around it allowed). */
  end(): boolean;
}

export function jsonSyntaxCheck(): JsonSyntaxCheck {
  const stack: Array<'object' | 'array'> = [];
  let expect: Expect = 'value';
  let inKey = false;
  let hexLeft = 0;
  let number = Num.Minus;
  let literal = '';
  let literalAt = 0;
  let seenValue = false;
  let failed = false;
  /** The start of a UTF-8 character cut at the end of the last piece. */
  let carried: Uint8Array = new Uint8Array(0);

  const afterValue = () => {
    expect = 'after-value';
    if (stack.length === 0) seenValue = true;
  };
  const fail = () => {
    failed = true;
    return false;
  };

  // The first byte of a value.
  const startValue = (c: number): boolean => {
    if (c === 0x22) {
      expect = 'string';
      return true;
    }
    if (c === 0x7b || c === 0x5b) {
      if (stack.length >= MAX_DEPTH) return fail();
      stack.push(c === 0x7b ? 'object' : 'array');
      expect = c === 0x7b ? 'key-or-close' : 'value-or-close';
      return true;
    }
    if (c === 0x2d || isDigit(c)) {
      expect = 'number';
      number = c === 0x2d ? Num.Minus : c === 0x30 ? Num.Zero : Num.Int;
      return true;
    }
    for (const word of ['true', 'false', 'null']) {
      if (c === word.charCodeAt(0)) {
        expect = 'literal';
        literal = word;
        literalAt = 1;
        return true;
      }
    }
    return fail();
  };

  // One byte; returns false on a syntax error. Called again with the same byte when a number or
  // literal ends at it.
  const step = (c: number): boolean => {
    switch (expect) {
      case 'string':
        if (c === 0x22) {
          if (inKey) {
            inKey = false;
            expect = 'colon';
          } else afterValue();
        } else if (c === 0x5c) expect = 'escape';
        else if (c < 0x20) return fail();
        return true;
      case 'escape':
        if (c === 0x75) {
          expect = 'unicode';
          hexLeft = 4;
        } else if (ESCAPES.has(c)) expect = 'string';
        else return fail();
        return true;
      case 'unicode':
        if (!isHex(c)) return fail();
        if (--hexLeft === 0) expect = 'string';
        return true;
      case 'number': {
        const next = nextNumberState(number, c);
        if (next !== undefined) {
          number = next;
          return true;
        }
        if (!numberMayEnd(number)) return fail();
        afterValue();
        return step(c);
      }
      case 'literal':
        if (literalAt < literal.length) {
          if (c !== literal.charCodeAt(literalAt++)) return fail();
          if (literalAt === literal.length) afterValue();
          return true;
        }
        return fail();
      default:
        break;
    }
    if (isWhitespace(c)) return true;
    switch (expect) {
      case 'colon':
        if (c !== 0x3a) return fail();
        expect = 'value';
        return true;
      case 'key-or-close':
      case 'key':
        if (c === 0x22) {
          inKey = true;
          expect = 'string';
          return true;
        }
        if (c === 0x7d && expect === 'key-or-close') {
          stack.pop();
          afterValue();
          return true;
        }
        return fail();
      case 'after-value': {
        const top = stack.at(-1);
        if (top === undefined) return fail(); // something after the one value
        if (c === 0x2c) {
          expect = top === 'object' ? 'key' : 'value';
          return true;
        }
        if ((c === 0x7d && top === 'object') || (c === 0x5d && top === 'array')) {
          stack.pop();
          afterValue();
          return true;
        }
        return fail();
      }
      case 'value-or-close':
        if (c === 0x5d) {
          stack.pop();
          afterValue();
          return true;
        }
        return startValue(c);
      case 'value':
        return startValue(c);
      default:
        return fail();
    }
  };

  return {
    write(bytes) {
      if (failed) return false;
      // A character cut at the end of the last piece is checked with the bytes that complete it.
      const piece = carried.length === 0 ? bytes : Buffer.concat([carried, bytes]);
      const cut = cutCharacterBytes(piece);
      if (!isUtf8(piece.subarray(0, piece.length - cut))) return fail();
      carried = piece.slice(piece.length - cut);
      for (let i = 0; i < bytes.length; i++) {
        // Most of a large message is inside strings: skip their plain bytes without the switch.
        if (expect === 'string') {
          let c = bytes[i]!;
          while (c >= 0x20 && c !== 0x22 && c !== 0x5c && i + 1 < bytes.length) c = bytes[++i]!;
          if (c >= 0x20 && c !== 0x22 && c !== 0x5c) continue;
        }
        // And most of a vector of numbers is digits: skip those where only a digit can follow.
        if (expect === 'number' && (number === Num.Int || number === Num.Frac || number === Num.Exp)) {
          while (i + 1 < bytes.length && isDigit(bytes[i]!)) i++;
          if (isDigit(bytes[i]!)) continue;
        }
        if (!step(bytes[i]!)) return false;
      }
      return true;
    },
    end() {
      if (failed) return false;
      if (carried.length > 0) return false; // the last character is cut short
      if (expect === 'number') {
        if (!numberMayEnd(number)) return false;
        afterValue();
      }
      return seenValue && expect === 'after-value' && stack.length === 0;
    },
  };
}
