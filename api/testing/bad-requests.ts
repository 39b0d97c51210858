/**
 * Generates bad requests for one OpenAPI operation: malformed JSON, values of the wrong type,
 * missing and unknown fields, huge and odd strings, and bad or unknown path and query values.
 * Random choices come from a seeded generator, so a failure names a seed that reproduces it.
 */

/** An OpenAPI schema object, as far as the generator reads it. */
interface Schema {
  $ref?: string;
  type?: string | string[];
  enum?: unknown[];
  format?: string;
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  anyOf?: Schema[];
  oneOf?: Schema[];
  allOf?: Schema[];
  not?: unknown;
  pattern?: string;
  minLength?: number;
}

/** The parts of an OpenAPI 3.1 document the generator uses. */
export interface OpenApiDocument {
  paths: Record<string, Record<string, Operation>>;
  components?: { schemas?: Record<string, Schema> };
}

interface Operation {
  parameters?: Array<{ name: string; in: string; schema?: Schema }>;
  requestBody?: { content?: Record<string, { schema?: Schema }> };
}

/** One request to send. */
export interface BadRequest {
  what: string;
  path: string;
  body?: string;
  contentType?: string | null;
}

/** mulberry32: a small seeded PRNG. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomText(random: () => number, length: number): string {
  const pools = ['abcxyz', 'ÄÖüß€', '😀🔑', '\u0000\u0001\u001f', '"\\/\'<>&;', ' \t\n', '\ud800'];
  let out = '';
  for (let i = 0; i < length; i += 1) {
    const pool = pools[Math.floor(random() * pools.length)]!;
    out += pool[Math.floor(random() * pool.length)];
  }
  return out;
}

function resolve(doc: OpenApiDocument, schema: Schema | undefined): Schema {
  if (schema?.$ref) return resolve(doc, doc.components?.schemas?.[schema.$ref.split('/').pop()!]);
  return schema ?? {};
}

/** The id and name the fuzz pre-creates, so that schema-valid requests collide instead of creating. */
export const FUZZ_NAME = 'zz-fuzz';
const STRING_CANDIDATES = [FUZZ_NAME, 'x', `sha256:${'0'.repeat(64)}`, 'A'.repeat(43), '1000003'];

// A string the schema accepts when one of a few candidates fits; ids are unknown or the fuzz's own.
function plausibleString(schema: Schema): string {
  if (schema.format === 'uuid') return crypto.randomUUID();
  if (schema.pattern) {
    const pattern = new RegExp(schema.pattern, 'u');
    const hit = STRING_CANDIDATES.find((candidate) => pattern.test(candidate));
    if (hit) return hit;
  }
  return 'x'.repeat(Math.max(1, schema.minLength ?? 1));
}

// A value of the right shape, schema-valid where the generator can manage it: the base the
// mutations start from, and itself sent so that handlers (not only validators) are reached.
function plausible(doc: OpenApiDocument, raw: Schema | undefined, depth = 0): unknown {
  const schema = resolve(doc, raw);
  const branch = schema.anyOf?.[0] ?? schema.oneOf?.[0] ?? schema.allOf?.[0];
  if (branch) return plausible(doc, branch, depth);
  if (schema.enum) return schema.enum[0];
  const type = Array.isArray(schema.type) ? schema.type.find((t) => t !== 'null') : schema.type;
  switch (type) {
    case 'object': {
      const out: Record<string, unknown> = {};
      if (depth < 4) for (const key of schema.required ?? []) out[key] = plausible(doc, schema.properties?.[key], depth + 1);
      return out;
    }
    case 'array': return [];
    case 'integer': case 'number': return 1;
    case 'boolean': return true;
    default: return plausibleString(schema);
  }
}

/** Values that are wrong for any field Parley declares (type, size or content). */
function wrongValues(random: () => number): Array<[string, unknown]> {
  return [
    ['null', null], ['number', 12345], ['negative', -1], ['float', 1.5], ['boolean', false], ['empty string', ''],
    ['array', ['x']], ['object', { nested: true }], ['long string', 'y'.repeat(10_000)],
    // Starts with a control character, so it is never a valid name (and the request changes nothing).
    ['odd text', `\u0001${randomText(random, Math.floor(random() * 300))}`],
  ];
}

function fieldPaths(doc: OpenApiDocument, raw: Schema | undefined, prefix: string[] = [], depth = 0): Array<{ path: string[]; required: boolean }> {
  const schema = resolve(doc, raw);
  if (depth > 3 || !schema.properties) return [];
  return Object.entries(schema.properties).flatMap(([key, child]) => {
    if ((child as Schema).not !== undefined) return [];
    const here = { path: [...prefix, key], required: (schema.required ?? []).includes(key) };
    return [here, ...fieldPaths(doc, child, here.path, depth + 1)];
  });
}

function withValue(base: unknown, path: string[], value: unknown | typeof REMOVE): unknown {
  const copy = structuredClone(base) as Record<string, unknown>;
  let target = copy;
  for (const key of path.slice(0, -1)) {
    if (typeof target[key] !== 'object' || target[key] === null) target[key] = {};
    target = target[key] as Record<string, unknown>;
  }
  if (value === REMOVE) delete target[path.at(-1)!];
  else target[path.at(-1)!] = value;
  return copy;
}
const REMOVE = Symbol('remove');

const BAD_IDS = ['', 'x'.repeat(5000), '%00', '%2e%2e%2f%2e%2e', '%F0%9F%92%A9', '%ZZ', 'NaN', '-1', "x'%20OR%20'1'%3D'1", 'null', 'DROP%20TABLE'];
const BAD_QUERY = ['abc', '-5', '1e999', '0x10', '', 'y'.repeat(5000), '%00', '1&limit=2'];

/** Every bad request for one operation at `template` (e.g. `/v1/users/{userId}`). */
export function badRequests(doc: OpenApiDocument, template: string, operation: Operation, random: () => number): BadRequest[] {
  const params = operation.parameters ?? [];
  const pathParams = params.filter((p) => p.in === 'path');
  const queryParams = params.filter((p) => p.in === 'query');
  const fill = (values: Record<string, string>) => template.replace(/\{(\w+)\}/g, (_, name: string) => values[name] ?? 'x');
  const unknownIds = Object.fromEntries(pathParams.map((p) => [p.name, plausibleString(resolve(doc, p.schema))]));
  const out: BadRequest[] = [];

  for (const param of pathParams) {
    for (const bad of BAD_IDS) out.push({ what: `path ${param.name}=${bad.slice(0, 20)}`, path: fill({ ...unknownIds, [param.name]: bad }) });
  }
  const basePath = fill(unknownIds);
  if (pathParams.length > 0) out.push({ what: 'unknown ids', path: basePath });
  for (const param of queryParams) {
    for (const bad of BAD_QUERY) out.push({ what: `query ${param.name}=${bad.slice(0, 20)}`, path: `${basePath}?${param.name}=${bad}` });
    out.push({ what: `query ${param.name} twice`, path: `${basePath}?${param.name}=1&${param.name}=2` });
  }
  if (queryParams.length > 0) out.push({ what: 'unknown query parameter', path: `${basePath}?surprise=1` });

  const schema = operation.requestBody?.content?.['application/json']?.schema;
  if (schema === undefined) return out;
  const base = plausible(doc, schema);
  const raw = (what: string, body: string, contentType: string | null = 'application/json') => out.push({ what, path: basePath, body, contentType });
  for (const text of ['{', '[', '{"a":}', '{"a":1,}', 'nul', '\u0000', '{"a":"\\ud800"}', 'null', '[]', '1', '"s"', 'true', '[' .repeat(5000) + ']'.repeat(5000)]) {
    raw(`bad JSON ${JSON.stringify(text.slice(0, 12))}`, text);
  }
  raw('prototype pollution', '{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}');
  raw('as text/plain', JSON.stringify(base), 'text/plain');
  raw('as form', 'a=1&b=2', 'application/x-www-form-urlencoded');
  raw('without content type', JSON.stringify(base), null);
  raw('70 KB body', JSON.stringify({ ...(base as object), pad: 'z'.repeat(70_000) }));
  raw('schema-valid base', JSON.stringify(base));
  raw('unknown field', JSON.stringify({ ...(base as object), surprise: 1 }));
  for (const field of fieldPaths(doc, schema)) {
    const name = field.path.join('.');
    if (field.required) raw(`missing ${name}`, JSON.stringify(withValue(base, field.path, REMOVE)));
    for (const [kind, value] of wrongValues(random)) raw(`${name} as ${kind}`, JSON.stringify(withValue(base, field.path, value)));
  }
  return out;
}
