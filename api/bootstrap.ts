/**
 * The first server admin. Nobody can call the API before a user exists, so the central process
 * creates one at first start (with a password it chose or was given) — once: an existing
 * username is left untouched.
 */
import { eq } from 'drizzle-orm';
import type { Database } from '../db/client.ts';
import { organisations, users } from '../db/schema.ts';
import { UserRole } from '../common/roles.ts';
import { DEFAULT_SCRYPT_COST, hashPassword } from './auth/password.ts';
import type { ScryptCost } from './auth/password.ts';
import { recordAudit } from './audit/record-audit.ts';

/** Who the first admin is. */
export interface BootstrapAdmin {
  /** The organisation running the server, created (without keys) if missing. */
  orgId: string;
  orgName: string;
  username: string;
  /** At least 12 characters; never logged or stored in clear. */
  password: string;
  passwordCost?: ScryptCost;
  now?: () => Date;
}

/**
 * Creates the operator organisation and an admin user unless that username exists.
 * Returns whether anything was created.
 *
 * @throws TypeError for a password shorter than 12 characters.
 */
export async function ensureAdmin(db: Database, admin: BootstrapAdmin): Promise<{ created: boolean }> {
  if (admin.password.length < 12) throw new TypeError('the admin password must be at least 12 characters');
  const [existing] = await db.select({ id: users.id }).from(users).where(eq(users.username, admin.username)).limit(1);
  if (existing) return { created: false };
  const passwordHash = await hashPassword(admin.password, admin.passwordCost ?? DEFAULT_SCRYPT_COST);
  const at = (admin.now ?? (() => new Date()))();
  await db.transaction(async (tx) => {
    const [org] = await tx.select({ id: organisations.id }).from(organisations).where(eq(organisations.id, admin.orgId)).limit(1);
    if (!org) {
      await tx.insert(organisations).values({ id: admin.orgId, name: admin.orgName, createdAt: at });
      await recordAudit(tx, { actor: 'system', action: 'organisation.create', target: { kind: 'organisation', id: admin.orgId }, at, details: { bootstrap: true } });
    }
    const [user] = await tx.insert(users).values({ username: admin.username, orgId: admin.orgId, role: UserRole.Admin, passwordHash, createdAt: at }).returning({ id: users.id });
    await recordAudit(tx, { actor: 'system', action: 'user.create', target: { kind: 'user', id: user!.id }, at, details: { username: admin.username, orgId: admin.orgId, role: UserRole.Admin, bootstrap: true } });
  });
  return { created: true };
}
