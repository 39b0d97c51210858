/**
 * Whether a correctly signed token still speaks for its user. Checked on every request, in one
 * query by primary keys: the user's row (disabled? which token generation?) and whether this very
 * token was logged out. Why both: a per-user generation revokes every token of a user (an admin's
 * "revoke all", disabling) without a row per token issued, and the revoked_tokens row revokes one
 * token (logout) without ending the user's other sessions. Role, organisation and name come from
 * the row too, so a change to them takes effect at once, not when the token expires.
 */
import { eq, lt, sql } from 'drizzle-orm';
import type { Executor } from '../../db/client.ts';
import { revokedTokens, users } from '../../db/schema.ts';
import type { UserPrincipal } from '../router.ts';
import type { TokenClaims } from './tokens.ts';

/** The user `claims` speaks for, as the database has it now; undefined when the token is no longer good. */
export async function liveUser(db: Executor, claims: TokenClaims): Promise<UserPrincipal | undefined> {
  const [row] = await db.select({
    username: users.username, orgId: users.orgId, role: users.role, generation: users.tokenGeneration, disabledAt: users.disabledAt,
    revoked: sql<boolean>`exists (select 1 from ${revokedTokens} where ${revokedTokens.tokenId} = ${claims.tokenId})`,
  }).from(users).where(eq(users.id, claims.user.userId)).limit(1);
  if (row === undefined || row.revoked || row.disabledAt !== null || row.generation !== claims.generation) return undefined;
  return { kind: 'user', userId: claims.user.userId, username: row.username, orgId: row.orgId, role: row.role };
}

/** Revokes one token (logout). Idempotent. */
export async function revokeToken(db: Executor, claims: { tokenId: string; expiresAt: Date; userId: string }, now: Date): Promise<void> {
  await db.insert(revokedTokens).values({ tokenId: claims.tokenId, userId: claims.userId, expiresAt: claims.expiresAt, revokedAt: now }).onConflictDoNothing();
}

/** Forgets revocations of tokens that have expired anyway (they fail on `exp` alone). */
export async function pruneRevokedTokens(db: Executor, now: Date): Promise<void> {
  await db.delete(revokedTokens).where(lt(revokedTokens.expiresAt, now));
}
