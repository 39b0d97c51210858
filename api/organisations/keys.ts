/**
 * An organisation's published public keys: the request schema (which refuses any private key
 * member outright), the deep check (crypto/'s parseOrgPublicKeys plus a point-on-curve import),
 * and publishing with history — a new key retires the current one, which stays for verifying
 * envelopes it signed or received.
 */
import { createPublicKey } from 'node:crypto';
import { z } from '@hono/zod-openapi';
import { and, desc, eq, isNull } from 'drizzle-orm';
import { ErrorCode, isParleyError } from '../../common/errors.ts';
import { parseOrgPublicKeys } from '../../crypto/index.ts';
import type { OrgPublicKeys } from '../../crypto/index.ts';
import type { Executor } from '../../db/client.ts';
import { KeyUse, orgKeys } from '../../db/schema.ts';
import type { OrgKey, PublicJwk } from '../../db/schema.ts';
import { ApiError, conflict } from '../errors.ts';
import { OrgIdSchema, TimestampSchema, iso } from '../schemas.ts';

// Members of private (or symmetric) JWKs. Named in the schema so the refusal says exactly why.
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;
const privateMember = z.unknown()
  .refine(() => false, { error: 'is a private key member: the API never takes a private key. Send only the public half (publicKeysOf in crypto/)' })
  .optional()
  .openapi({ description: 'Must be absent: private keys never leave their organisation.', not: {} });

const B64URL = /^[A-Za-z0-9_-]+$/;
const coordinate = z.string().max(64, { error: 'must be at most 64 characters' }).regex(B64URL, { error: 'must be base64url' });

/** A public JWK as Parley publishes it: kid is its RFC 7638 thumbprint. */
export const PublicJwkSchema = z.strictObject({
  kty: z.enum(['OKP', 'EC']),
  crv: z.enum(['X25519', 'Ed25519', 'P-256']),
  x: coordinate,
  y: coordinate.optional(),
  kid: z.string().regex(/^[A-Za-z0-9_-]{43}$/, { error: 'must be the key\'s RFC 7638 SHA-256 thumbprint (43 base64url characters)' }),
  alg: z.string().max(32, { error: 'must be at most 32 characters' }),
  use: z.enum(['enc', 'sig']),
  ...Object.fromEntries(PRIVATE_MEMBERS.map((m) => [m, privateMember])),
}).openapi('PublicJwk');

const PublishedKeyBody = z.strictObject({
  jwk: PublicJwkSchema,
  thumbprint: z.string().max(64).optional().openapi({ description: 'RFC 7638 thumbprint; must equal jwk.kid when given.' }),
});

/** A full key set to publish: what crypto/'s publicKeysOf returns (`org` optional). */
export const KeySetSchema = z.strictObject({
  org: OrgIdSchema.optional().openapi({ description: 'When given, must equal the organisation the keys are for.' }),
  receive: PublishedKeyBody,
  sign: PublishedKeyBody,
}).openapi('KeySet');
export type KeySetBody = z.infer<typeof KeySetSchema>;

/** A published key with its thumbprint. */
export const PublishedKeySchema = z.object({ jwk: z.record(z.string(), z.unknown()), thumbprint: z.string() }).openapi('PublishedKey');

/** A key in the history: current (retiredAt null) or retired. */
export const KeyRecordSchema = z.object({
  use: z.enum(Object.values(KeyUse)),
  jwk: z.record(z.string(), z.unknown()),
  thumbprint: z.string(),
  createdAt: TimestampSchema,
  retiredAt: TimestampSchema.nullable(),
}).openapi('KeyRecord');

/**
 * Checks a key set for `org` as deeply as the sites will: kinds, no private member, kid equal to
 * the thumbprint, and each point really on its curve.
 *
 * @throws ApiError (400, KeyInvalid or InvalidInput) naming the field at fault, under `prefix`.
 */
export function checkKeySet(org: string, body: KeySetBody, prefix: string): OrgPublicKeys {
  if (body.org !== undefined && body.org !== org) {
    throw new ApiError(ErrorCode.InvalidInput, `${prefix}org is "${body.org}" but the keys are being published for "${org}". Send the keys of "${org}".`, { errors: [{ in: 'body', field: `${prefix}org`, message: `must be "${org}"` }] });
  }
  const entry = (e: KeySetBody['receive']) => ({ jwk: e.jwk, thumbprint: e.thumbprint ?? e.jwk.kid });
  let keys: OrgPublicKeys;
  try {
    keys = parseOrgPublicKeys({ org, receive: entry(body.receive), sign: entry(body.sign) });
  } catch (err) {
    if (!isParleyError(err, ErrorCode.KeyInvalid)) throw err;
    const field = `${prefix}${String(err.details.field ?? '')}`;
    const problem = problemOf(err.message, String(err.details.field ?? ''));
    throw new ApiError(ErrorCode.KeyInvalid, `${field} was refused: ${problem}. Publish the public halves of keys made by Parley (kid = RFC 7638 thumbprint, alg and use set).`, { errors: [{ in: 'body', field, message: problem }] });
  }
  for (const use of [KeyUse.Receive, KeyUse.Sign]) {
    try {
      createPublicKey({ key: { kty: keys[use].jwk.kty, crv: keys[use].jwk.crv, x: keys[use].jwk.x, y: keys[use].jwk.y }, format: 'jwk' });
    } catch {
      const field = `${prefix}${use}.jwk`;
      throw new ApiError(ErrorCode.KeyInvalid, `${field} is not a valid ${keys[use].jwk.crv} public key (the point is not on the curve). Export the public key again from its key pair.`, { errors: [{ in: 'body', field, message: 'is not a valid public key' }] });
    }
  }
  return keys;
}

// crypto/ says "<what>: <field> <problem>. <action>"; the uploader needs only the problem.
function problemOf(message: string, field: string): string {
  const at = message.indexOf(`: ${field} `);
  if (field === '' || at < 0) return message;
  const rest = message.slice(at + field.length + 3);
  const end = rest.indexOf('. ');
  return end < 0 ? rest : rest.slice(0, end);
}

/**
 * Makes `keys` the organisation's current keys: a key whose thumbprint is already current stays;
 * a new one retires the current key of its use. Returns which uses changed.
 *
 * @throws ApiError 409 when a key was published before and retired, or nothing would change.
 */
export async function publishKeys(tx: Executor, org: string, keys: OrgPublicKeys, at: Date, prefix: string): Promise<KeyUse[]> {
  const history = await tx.select().from(orgKeys).where(eq(orgKeys.orgId, org));
  const changed: KeyUse[] = [];
  for (const use of [KeyUse.Receive, KeyUse.Sign]) {
    const { jwk, thumbprint } = keys[use];
    const seen = history.find((k) => k.thumbprint === thumbprint);
    if (seen && seen.retiredAt === null && seen.use === use) continue;
    if (seen) {
      throw conflict(`The ${use} key ${thumbprint} was already published for "${org}" and is retired or used for another purpose; a key is never reused. Make a new key pair and publish it.`, `${prefix}${use}.jwk`);
    }
    await tx.update(orgKeys).set({ retiredAt: at }).where(and(eq(orgKeys.orgId, org), eq(orgKeys.use, use), isNull(orgKeys.retiredAt)));
    await tx.insert(orgKeys).values({ orgId: org, use, jwk: { ...jwk } as PublicJwk, thumbprint, createdAt: at });
    changed.push(use);
  }
  return changed;
}

/** All of an organisation's keys, newest first. */
export function keyHistory(tx: Executor, org: string): Promise<OrgKey[]> {
  return tx.select().from(orgKeys).where(eq(orgKeys.orgId, org)).orderBy(desc(orgKeys.createdAt), desc(orgKeys.id));
}

// jsonb keeps members in its own order; publish them in the order crypto/ writes them.
function orderedJwk(jwk: PublicJwk): PublicJwk {
  const out: Record<string, unknown> = { kty: jwk.kty, crv: jwk.crv, x: jwk.x };
  if (jwk.y !== undefined) out.y = jwk.y;
  for (const member of ['kid', 'alg', 'use']) if (jwk[member] !== undefined) out[member] = jwk[member];
  return out as PublicJwk;
}

/** The wire form of one key row. */
export function keyRecord(row: OrgKey) {
  return { use: row.use, jwk: orderedJwk(row.jwk), thumbprint: row.thumbprint, createdAt: iso(row.createdAt), retiredAt: iso(row.retiredAt) };
}

/** The current key of each use, or null when none was published. */
export function currentKeys(rows: OrgKey[]) {
  const current = (use: KeyUse) => {
    const row = rows.find((k) => k.use === use && k.retiredAt === null);
    return row ? { jwk: orderedJwk(row.jwk), thumbprint: row.thumbprint } : null;
  };
  return { receive: current(KeyUse.Receive), sign: current(KeyUse.Sign) };
}
