/**
 * An algorithm's args schema: the JSON Schema its manifest declares for a step's `args`, carried
 * in its image as the label `parley.args-schema`, and checked wherever args are given — `parley
 * chain validate`, `parley algorithm test` — before anything runs. JSON Schema is read with zod's
 * own converter (z.fromJSONSchema), so there is one validator in Parley, not two.
 */
import { z } from 'zod';
import { formatPath } from '../chains/describe-issue.ts';

/** The image label holding the compact JSON of an algorithm's args schema. */
export const ARGS_SCHEMA_LABEL = 'parley.args-schema';
/** The image label naming the algorithm's language (`js` or `python`). */
export const LANGUAGE_LABEL = 'parley.language';

/** One problem with a step's args: where in them (`rounds`, `where[0].op`; '' for the whole) and what. */
export interface ArgsProblem {
  path: string;
  message: string;
}

/** A schema that takes any object: what an algorithm without a declared schema accepts. */
export const ANY_ARGS_SCHEMA = { type: 'object' } as const;

/**
 * Why `schema` cannot be an args schema, or undefined when it can: it must be a JSON Schema
 * object describing an object (`type: object`) that the converter can read.
 */
export function argsSchemaProblem(schema: unknown): string | undefined {
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) return 'must be a JSON Schema object (e.g. { type: object, properties: { … } })';
  if ((schema as { type?: unknown }).type !== 'object') return 'must describe an object: a step\'s args are always one (give type: object)';
  try {
    z.fromJSONSchema(schema as Parameters<typeof z.fromJSONSchema>[0]);
  } catch (err) {
    return `is not a JSON Schema Parley can read: ${(err as Error).message}`;
  }
  return undefined;
}

function describe(issue: z.core.$ZodIssue): ArgsProblem[] {
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => ({ path: formatPath([...issue.path, key]), message: `is not an argument this algorithm takes` }));
  }
  if (issue.code === 'invalid_type' && issue.input === undefined) return [{ path: formatPath(issue.path), message: 'is required' }];
  return [{ path: formatPath(issue.path), message: issue.message }];
}

/**
 * Checks `args` against `schema` (already known to be an args schema); [] when they conform.
 * Messages say what is wrong and never quote a value.
 */
export function checkArgs(schema: unknown, args: unknown): ArgsProblem[] {
  const validator = z.fromJSONSchema(schema as Parameters<typeof z.fromJSONSchema>[0]);
  const result = validator.safeParse(args ?? {}, { reportInput: true });
  if (result.success) return [];
  return result.error.issues.flatMap(describe);
}

/**
 * The args schema an image's labels carry, undefined when it has none (images built before
 * manifests, or by hand). Throws TypeError when the label is not JSON.
 */
export function argsSchemaOfLabels(labels: Record<string, string> | undefined | null): unknown {
  const text = labels?.[ARGS_SCHEMA_LABEL];
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw new TypeError(`The image's ${ARGS_SCHEMA_LABEL} label is not JSON; rebuild it with \`parley algorithm build\`.`);
  }
}
