/**
 * The published JSON Schema is what the generator writes from the zod schema, and it agrees with
 * the parser on the example.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { CHAIN_SCHEMA_FILE, chainJsonSchemaText } from './generate-schema.ts';

describe('chains/chain.schema.json', () => {
  it('is exactly what `npm run chain:schema` generates (run it after changing the chain schema)', () => {
    expect(readFileSync(CHAIN_SCHEMA_FILE, 'utf8')).toBe(chainJsonSchemaText());
  });

  it('is a closed draft 2020-12 schema naming every top-level key of the example', () => {
    const schema = JSON.parse(readFileSync(CHAIN_SCHEMA_FILE, 'utf8'));
    expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(schema.additionalProperties).toBe(false);
    expect(schema.required).toEqual(['version', 'name', 'steps']);
    const example = parse(readFileSync(new URL('./fixtures/cohort-mean.yaml', import.meta.url), 'utf8'));
    for (const key of Object.keys(example)) expect(Object.keys(schema.properties)).toContain(key);
    // A step is one of four closed shapes: image, secureSum, link or vertical, never two.
    const kinds = schema.properties.steps.items.anyOf;
    expect(kinds.map((k: { required: string[] }) => k.required)).toEqual([['id', 'image'], ['id', 'secureSum', 'after'], ['id', 'link'], ['id', 'vertical']]);
    expect(kinds.every((k: { additionalProperties: boolean }) => k.additionalProperties === false)).toBe(true);
  });
});
