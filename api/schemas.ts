/**
 * Schemas shared by several routes: ids, names, timestamps and the problem document. One schema
 * gives the handler its type, validates the request and documents it in /openapi.json.
 */
import { z } from '@hono/zod-openapi';

// Same shape as common/ids.ts isOrgId; a regex here so /openapi.json shows it as a pattern.
const ORG_ID = /^[a-z][a-z0-9-]{0,39}$/;
// Printable text: no control characters (NUL is refused by PostgreSQL and breaks logs).
const PRINTABLE = /^[^\p{Cc}]*$/u;

/** An organisation id: a lowercase slug used as task-queue suffix and Docker label. */
export const OrgIdSchema = z.string()
  .regex(ORG_ID, { error: 'must be a lowercase slug: a letter, then up to 39 letters, digits or "-"' })
  .openapi({ example: 'north' });

/** A server-made id (users, collaborations, sites). */
export const UuidSchema = z.uuid({ error: 'must be a UUID as returned when the resource was created' })
  .openapi({ example: '7d8e1f3a-4c1b-4e7a-9a55-0b8f3c2d1e0f' });

/** A display name: 1–100 printable characters. */
export const NameSchema = z.string()
  .min(1, { error: 'must not be empty' })
  .max(100, { error: 'must be at most 100 characters' })
  .regex(PRINTABLE, { error: 'must not contain control characters' });

/** A timestamp as RFC 3339 text. */
export const TimestampSchema = z.string().openapi({ format: 'date-time', example: '2025-01-31T12:00:00.000Z' });

/** A path parameter named `name` holding a UUID. */
export function uuidParam(name: string) {
  return UuidSchema.openapi({ param: { name, in: 'path' } });
}

/** RFC 9457 problem document with Parley's stable `code`. */
export const ProblemSchema = z.object({
  type: z.string().openapi({ example: 'urn:parley:error:ERR_INVALID_INPUT' }),
  title: z.string(),
  status: z.number().int(),
  detail: z.string().openapi({ description: 'What happened, why, and what to do.' }),
  code: z.string().openapi({ example: 'ERR_INVALID_INPUT' }),
  instance: z.string().optional(),
  errors: z.array(z.object({
    in: z.enum(['body', 'path', 'query', 'header']),
    field: z.string(),
    message: z.string(),
  })).optional(),
}).openapi('Problem');

/** `{ status: 'ok' }` and the like. */
export const OkSchema = z.object({ status: z.literal('ok') });

/** Converts a database timestamp to its wire form. */
export function iso(date: Date): string;
export function iso(date: Date | null): string | null;
export function iso(date: Date | null): string | null {
  return date === null ? null : date.toISOString();
}
