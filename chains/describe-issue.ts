/**
 * Zod's issues worded for a data scientist: what is wrong with the field and what is expected.
 * Schema-specific messages (set with `error:` in the schemas) win; this covers the generic kinds.
 */
import type { z } from 'zod';
import type { ChainProblem } from './chain-rules.ts';

/** `steps[1].after[0]` from `['steps', 1, 'after', 0]`. */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  return path.reduce<string>((out, key) => (typeof key === 'number' ? `${out}[${key}]` : out === '' ? String(key) : `${out}.${String(key)}`), '');
}

/** `['steps', 1, 'after', 0]` from `steps[1].after[0]`. */
export function parsePath(path: string): PropertyKey[] {
  return [...path.matchAll(/([^.[\]]+)|\[(\d+)\]/g)].map((m) => (m[2] !== undefined ? Number(m[2]) : m[1]!));
}

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return `the text "${value.length > 40 ? `${value.slice(0, 40)}…` : value}"`;
  return `${typeof value === 'number' ? 'the number' : 'the value'} ${String(value)}`;
}

const EXPECTED: Record<string, string> = {
  string: 'text', number: 'a number', int: 'a whole number', boolean: 'true or false', array: 'a list', object: 'a mapping of keys to values', record: 'a mapping of keys to values',
};

/** Edit distance, for "did you mean" on a misspelt key. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i += 1) {
    let previous = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j += 1) {
      const current = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length]!;
}

/** The message for one unknown key, naming the keys allowed there (and the likeliest one). */
export function unknownKeyMessage(key: string, allowed: readonly string[]): string {
  const lower = key.toLowerCase();
  const sharedPrefix = (k: string) => [...lower].findIndex((c, i) => k[i] !== c) === -1 ? lower.length : [...lower].findIndex((c, i) => k[i] !== c);
  const near = allowed.find((k) => distance(k.toLowerCase(), lower) <= 2 || sharedPrefix(k.toLowerCase()) >= Math.max(4, 0.6 * lower.length));
  return `unknown key "${key}"${near ? `; did you mean "${near}"?` : '.'} Allowed here: ${allowed.join(', ')}.`;
}

/** Problems for one zod issue; `allowedKeys` gives the keys allowed at a path, for unknown keys. */
export function describeIssue(issue: z.core.$ZodIssue, allowedKeys: (path: PropertyKey[]) => readonly string[]): ChainProblem[] {
  const path = issue.path as PropertyKey[];
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => ({ path: formatPath([...path, key]), message: unknownKeyMessage(key, allowedKeys(path)) }));
  }
  return [{ path: formatPath(path), message: issue.message }];
}

/** The error map for chain schemas: generic issues in words, schema-specific ones untouched. */
export function chainErrorMap(issue: z.core.$ZodRawIssue): string | undefined {
  switch (issue.code) {
    case 'invalid_type':
      if (issue.input === undefined) return `is missing: add it (${EXPECTED[issue.expected] ?? issue.expected})`;
      return `must be ${EXPECTED[issue.expected] ?? issue.expected}, not ${typeOf(issue.input)}`;
    case 'too_small':
      return issue.origin === 'array' ? `must list at least ${String(issue.minimum)}` : `must be at least ${String(issue.minimum)}`;
    case 'too_big':
      return issue.origin === 'array' ? `must list at most ${String(issue.maximum)}` : issue.origin === 'string' ? `must be at most ${String(issue.maximum)} characters` : `must be at most ${String(issue.maximum)}`;
    default:
      return undefined;
  }
}
