/**
 * Writes chains/chain.schema.json, the published JSON Schema of a chain file, from the zod schema
 * the parser validates with — so the two cannot disagree. `npm run chain:schema`; a test fails
 * when the committed file is not what this writes.
 */
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { ChainFileSchema } from './chain-file-schema.ts';

/** Where the schema is published, in this repository. */
export const CHAIN_SCHEMA_FILE = fileURLToPath(new URL('./chain.schema.json', import.meta.url));

/** The JSON Schema text, exactly as committed. */
export function chainJsonSchemaText(): string {
  const schema = z.toJSONSchema(ChainFileSchema, { io: 'input', target: 'draft-2020-12' });
  const published = {
    $schema: schema.$schema,
    title: 'Parley chain',
    ...Object.fromEntries(Object.entries(schema).filter(([key]) => key !== '$schema')),
  };
  return `${JSON.stringify(published, null, 2)}\n`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await writeFile(CHAIN_SCHEMA_FILE, chainJsonSchemaText());
  process.stdout.write(`wrote ${CHAIN_SCHEMA_FILE}\n`);
}
