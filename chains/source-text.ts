/**
 * Reads a chain file's text as YAML or JSON, keeping where each value sits so a problem found
 * later can be shown at its line and column. Syntax errors come back as problems with their own
 * position, never as thrown errors.
 */
import { LineCounter, isMap, isPair, isScalar, isSeq, parseDocument } from 'yaml';
import type { Document, Node } from 'yaml';

export type ChainFormat = 'yaml' | 'json';

/** A position in the text, both 1-based. */
export interface Position {
  line: number;
  column: number;
}

export interface SyntaxProblem extends Position {
  message: string;
}

/** The parsed data and a way back from a path in it to a place in the text. */
export interface SourceText {
  format: ChainFormat;
  data: unknown;
  /** Where `path` is: the deepest part of it that exists (the key itself with `key: true`). */
  locate(path: readonly PropertyKey[], options?: { key?: boolean }): Position;
}

/** YAML or JSON: by the file's extension, else by the first character of its content. */
export function formatOf(text: string, fileName: string): ChainFormat {
  if (/\.json$/i.test(fileName)) return 'json';
  if (/\.ya?ml$/i.test(fileName)) return 'yaml';
  return /^\s*[[{]/.test(text) ? 'json' : 'yaml';
}

function positionAt(text: string, offset: number): Position {
  const before = text.slice(0, Math.max(0, Math.min(offset, text.length)));
  const lines = before.split('\n');
  return { line: lines.length, column: lines[lines.length - 1]!.length + 1 };
}

function locator(doc: Document | undefined, lines: LineCounter) {
  return (path: readonly PropertyKey[], options: { key?: boolean } = {}): Position => {
    let node: Node | null | undefined = doc?.contents;
    let found: { range?: [number, number, number] | null } | null | undefined = node;
    for (let i = 0; i < path.length && node; i += 1) {
      const segment = path[i];
      const last = i === path.length - 1;
      if (isMap(node)) {
        const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(segment));
        if (!pair) break;
        found = last && options.key ? (pair.key as Node) : ((pair.value as Node | null) ?? (pair.key as Node));
        node = pair.value as Node | null;
      } else if (isSeq(node) && typeof segment === 'number') {
        const item = node.items[segment] as Node | undefined;
        if (!item) break;
        found = item;
        node = item;
      } else {
        break;
      }
    }
    const offset = found?.range?.[0] ?? 0;
    const { line, col } = lines.linePos(offset);
    return { line, column: col };
  };
}

/**
 * Parses `text` as `format`. JSON is held to JSON's own grammar (no comments, no trailing
 * commas), then read again as YAML — of which it is a subset — only to know where values are.
 */
export function readSourceText(text: string, format: ChainFormat): { ok: true; source: SourceText } | { ok: false; problems: SyntaxProblem[] } {
  const lines = new LineCounter();
  if (text.trim() === '') return { ok: false, problems: [{ line: 1, column: 1, message: 'the file is empty; a chain starts with "version: 1", a name and its steps.' }] };
  if (format === 'json') {
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (err) {
      const message = (err as Error).message;
      const at = /position (\d+)/.exec(message);
      const where = positionAt(text, at ? Number(at[1]) : text.length);
      return { ok: false, problems: [{ ...where, message: `not valid JSON: ${message.replace(/ in JSON at position \d+.*$/, '').replace(/^JSON\.parse: /, '')}.` }] };
    }
    const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: false });
    return { ok: true, source: { format, data, locate: locator(doc.errors.length ? undefined : doc, lines) } };
  }
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      problems: doc.errors.map((e) => {
        const { line, col } = lines.linePos(e.pos[0]);
        return { line, column: col, message: `not valid YAML: ${e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}` };
      }),
    };
  }
  return { ok: true, source: { format, data: doc.toJS({ maxAliasCount: 100 }), locate: locator(doc, lines) } };
}
