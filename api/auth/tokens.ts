/**
 * Short-lived access tokens: JWTs signed with HS256 by the API's own secret (jose). They carry
 * who the user is, their organisation and role, a token id (`jti`) and the user's token
 * generation (`gen`); the API is the only issuer and the only audience. A valid signature is not
 * the whole check: token-state.ts refuses a token that was revoked, whose generation is past, or
 * whose user is disabled.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7519
 */
import { randomUUID } from 'node:crypto';
import { SignJWT, jwtVerify } from 'jose';
import { UserRole } from '../../common/roles.ts';
import type { UserPrincipal } from '../router.ts';

const ISSUER = 'parley-api';
const AUDIENCE = 'parley-api';
const ROLES = new Set<string>(Object.values(UserRole));
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** What a correctly signed, unexpired token says. */
export interface TokenClaims {
  user: UserPrincipal;
  /** The `jti`, a UUID: what logout revokes. */
  tokenId: string;
  expiresAt: Date;
  /** The user's token generation when it was issued. */
  generation: number;
}

/** Issues and verifies access tokens. */
export interface TokenService {
  /** Signs a token for `user` in token generation `generation`, valid for the configured lifetime from now. */
  issue(user: UserPrincipal, generation: number): Promise<{ token: string; expiresAt: Date; expiresIn: number }>;
  /** What a token says, or undefined when it is forged, expired or malformed. */
  verify(token: string): Promise<TokenClaims | undefined>;
}

/**
 * Creates the token service.
 *
 * @throws TypeError when `secret` is shorter than 32 bytes (HS256 needs at least the hash size).
 */
export function createTokenService(secret: Uint8Array, ttlSeconds: number, now: () => Date): TokenService {
  if (!(secret instanceof Uint8Array) || secret.byteLength < 32) {
    throw new TypeError('tokenSecret must be at least 32 random bytes');
  }
  const key = new Uint8Array(secret);
  return {
    async issue(user, generation) {
      const issuedAt = Math.floor(now().getTime() / 1000);
      const expiresAt = new Date((issuedAt + ttlSeconds) * 1000);
      const token = await new SignJWT({ org: user.orgId, role: user.role, name: user.username, gen: generation })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setIssuer(ISSUER).setAudience(AUDIENCE).setSubject(user.userId).setJti(randomUUID())
        .setIssuedAt(issuedAt).setExpirationTime(issuedAt + ttlSeconds)
        .sign(key);
      return { token, expiresAt, expiresIn: ttlSeconds };
    },
    async verify(token) {
      try {
        const { payload } = await jwtVerify(token, key, {
          issuer: ISSUER, audience: AUDIENCE, algorithms: ['HS256'], currentDate: now(), requiredClaims: ['exp', 'sub', 'jti'],
        });
        const { sub, org, role, name, jti, exp, gen } = payload;
        if (typeof sub !== 'string' || typeof org !== 'string' || typeof name !== 'string' || typeof role !== 'string' || !ROLES.has(role)) return undefined;
        if (typeof jti !== 'string' || !UUID.test(jti) || !UUID.test(sub) || typeof exp !== 'number' || typeof gen !== 'number' || !Number.isInteger(gen)) return undefined;
        return { user: { kind: 'user', userId: sub, orgId: org, role: role as UserRole, username: name }, tokenId: jti, expiresAt: new Date(exp * 1000), generation: gen };
      } catch {
        return undefined;
      }
    },
  };
}
