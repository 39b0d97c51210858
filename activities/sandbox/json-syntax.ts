/**
 * Checks that a stream of bytes is one JSON text (RFC 8259), piece by piece, without building
 * it: the node socket streams a large message's content straight to its spill file and needs to
 * know it is JSON — what the step contract promises the receiving container — without ever
 * holding it whole. Syntax only; UTF-8 is checked by a fatal decoder beside it.
 *
 * @see https://www.rfc-editor.org/rfc/rfc8259 (the grammar followed state by state below)
 */

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

const WS = new Set([0x20, 0x09, 0x0a, 0x0d]);
const ESCAPES = new Set([0x22, 0x5c, 0x2f, 0x62, 0x66, 0x6e, 0x72, 0x74]);
const isDigit = (c: number) => c >= 0x30 && c <= 0x39;
const isHex = (c: number) => isDigit(c) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
// The characters a number may hold; its exact shape is checked once it ends.
const isNumberChar = (c: number) => isDigit(c) || c === 0x2d || c === 0x2b || c === 0x2e || c === 0x65 || c === 0x45;
const NUMBER = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/;

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
  let number = '';
  let literal = '';
  let literalAt = 0;
  let seenValue = false;
  let failed = false;
  const decoder = new TextDecoder('utf-8', { fatal: true });

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
      number = String.fromCharCode(c);
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
      case 'number':
        if (isNumberChar(c)) {
          number += String.fromCharCode(c);
          return number.length <= 4096 || fail();
        }
        if (!NUMBER.test(number)) return fail();
        afterValue();
        return step(c);
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
    if (WS.has(c)) return true;
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
      try {
        decoder.decode(bytes, { stream: true });
      } catch {
        return fail();
      }
      for (let i = 0; i < bytes.length; i++) {
        // Most of a large message is inside strings: skip their plain bytes without the switch.
        if (expect === 'string') {
          let c = bytes[i]!;
          while (c >= 0x20 && c !== 0x22 && c !== 0x5c && i + 1 < bytes.length) c = bytes[++i]!;
          if (c >= 0x20 && c !== 0x22 && c !== 0x5c) continue;
        }
        if (!step(bytes[i]!)) return false;
      }
      return true;
    },
    end() {
      if (failed) return false;
      try {
        decoder.decode();
      } catch {
        return false;
      }
      if (expect === 'number') {
        if (!NUMBER.test(number)) return false;
        afterValue();
      }
      return seenValue && expect === 'after-value' && stack.length === 0;
    },
  };
}
