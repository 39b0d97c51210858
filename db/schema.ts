/**
 * Parley's central database: organisations and their public keys, users, collaborations, sites,
 * runs and the audit trail. It holds public keys, hashes and ciphertext only — never a private
 * key, a password, a site secret or a plaintext result. Migrations are generated from this module
 * by `npx drizzle-kit generate` (see drizzle.config.ts) into db/migrations/.
 */
import { sql } from 'drizzle-orm';
import {
  bigserial,
  check,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import type { ChainOutput, ChainSpec } from '../common/chain.ts';
import type { Envelope } from '../common/envelope.ts';
import { RunStatus } from '../common/run-status.ts';
import { UserRole } from '../common/roles.ts';

/** What an organisation's key is for: receiving envelopes (ECDH-ES) or signing them. */
export const KeyUse = { Receive: 'receive', Sign: 'sign' } as const;
export type KeyUse = (typeof KeyUse)[keyof typeof KeyUse];

/** Who did something recorded in the audit trail. */
export const ActorKind = { User: 'user', Site: 'site', System: 'system' } as const;
export type ActorKind = (typeof ActorKind)[keyof typeof ActorKind];

/** A public JWK as published (RFC 7517); never carries `d` or other private members. */
export type PublicJwk = { kty: string; crv: string; x: string; y?: string } & Record<string, unknown>;

/** What a run computes, besides who takes part: fixed at start, public metadata. */
export interface RunSpec {
  /** The ring's public modulus, decimal. */
  modulus: string;
  dataset: string;
  image: { name: string; digest: string };
}

/** What a chain run keeps (protocol `chain`): the resolved chain, images pinned. */
export interface ChainRunSpec {
  chain: ChainSpec;
}

/** A chain run's result as kept: every output sealed for the requester, ciphertext only. */
export interface ChainRunResult {
  outputs: ChainOutput[];
}

const createdAt = () => timestamp('created_at', { withTimezone: true }).notNull().defaultNow();

function inList(values: readonly string[]) {
  return sql.raw(values.map((v) => `'${v}'`).join(', '));
}

export const organisations = pgTable('organisations', {
  /** The org's slug (common/ids.ts): a task-queue suffix and Docker label value. */
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  createdAt: createdAt(),
}, (t) => [uniqueIndex('organisations_name_unique').on(t.name)]);

export const orgKeys = pgTable('org_keys', {
  id: uuid('id').primaryKey().defaultRandom(),
  orgId: text('org_id').notNull().references(() => organisations.id),
  use: text('use').$type<KeyUse>().notNull(),
  jwk: jsonb('jwk').$type<PublicJwk>().notNull(),
  /** RFC 7638 SHA-256 thumbprint, base64url. */
  thumbprint: text('thumbprint').notNull(),
  createdAt: createdAt(),
  /** Set when a newer key replaced this one; retired keys still verify old envelopes. */
  retiredAt: timestamp('retired_at', { withTimezone: true }),
}, (t) => [
  check('org_keys_use_check', sql`${t.use} in (${inList(Object.values(KeyUse))})`),
  // One current key per use; history rows have retired_at set.
  uniqueIndex('org_keys_current_unique').on(t.orgId, t.use).where(sql`${t.retiredAt} is null`),
  // A key is never reused once published, so a thumbprint names exactly one row of an org.
  uniqueIndex('org_keys_thumbprint_unique').on(t.orgId, t.thumbprint),
]);

export const users = pgTable('users', {
  id: uuid('id').primaryKey().defaultRandom(),
  username: text('username').notNull(),
  orgId: text('org_id').notNull().references(() => organisations.id),
  role: text('role').$type<UserRole>().notNull(),
  /** `scrypt$<N>$<r>$<p>$<salt b64url>$<hash b64url>`: the KDF's parameters travel with it. */
  passwordHash: text('password_hash').notNull(),
  /**
   * Every access token carries the generation it was issued in; raising it revokes all of the
   * user's tokens at once (read with the user's row on every request, so it costs no extra query).
   */
  tokenGeneration: integer('token_generation').notNull().default(0),
  /** Set while the user is disabled: no login, and its tokens are refused at once. */
  disabledAt: timestamp('disabled_at', { withTimezone: true }),
  createdAt: createdAt(),
}, (t) => [
  uniqueIndex('users_username_unique').on(t.username),
  check('users_role_check', sql`${t.role} in (${inList(Object.values(UserRole))})`),
]);

/** Access tokens revoked one by one (logout) before they expire; a row may go once expires_at passes. */
export const revokedTokens = pgTable('revoked_tokens', {
  /** The token's `jti`. */
  tokenId: uuid('token_id').primaryKey(),
  userId: uuid('user_id').notNull().references(() => users.id),
  expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
  revokedAt: timestamp('revoked_at', { withTimezone: true }).notNull().defaultNow(),
});

export const collaborations = pgTable('collaborations', {
  id: uuid('id').primaryKey().defaultRandom(),
  name: text('name').notNull(),
  createdBy: uuid('created_by').references(() => users.id),
  createdAt: createdAt(),
}, (t) => [uniqueIndex('collaborations_name_unique').on(t.name)]);

export const collaborationMembers = pgTable('collaboration_members', {
  collaborationId: uuid('collaboration_id').notNull().references(() => collaborations.id),
  orgId: text('org_id').notNull().references(() => organisations.id),
  joinedAt: timestamp('joined_at', { withTimezone: true }).notNull().defaultNow(),
}, (t) => [primaryKey({ name: 'collaboration_members_pk', columns: [t.collaborationId, t.orgId] })]);

export const sites = pgTable('sites', {
  id: uuid('id').primaryKey().defaultRandom(),
  collaborationId: uuid('collaboration_id').notNull().references(() => collaborations.id),
  orgId: text('org_id').notNull().references(() => organisations.id),
  /** SHA-256 of the site credential, hex; the credential itself is shown once and not kept. */
  credentialHash: text('credential_hash').notNull(),
  /**
   * The organisation's own consent to join, as it sent it: a compact JWS by its signing key
   * (crypto/site-enrolment.ts), kept as evidence; null for sites registered before it was needed.
   */
  enrolment: text('enrolment'),
  createdAt: createdAt(),
  revokedAt: timestamp('revoked_at', { withTimezone: true }),
}, (t) => [
  // One live site per organisation per collaboration; a revoked one may be replaced.
  uniqueIndex('sites_live_unique').on(t.collaborationId, t.orgId).where(sql`${t.revokedAt} is null`),
  uniqueIndex('sites_credential_unique').on(t.credentialHash),
]);

export const runs = pgTable('runs', {
  /** The Temporal workflow id. */
  id: text('id').primaryKey(),
  collaborationId: uuid('collaboration_id').notNull().references(() => collaborations.id),
  requesterId: uuid('requester_id').notNull().references(() => users.id),
  /** The requester's organisation: the result is sealed for it, and only it reads the run. */
  requesterOrg: text('requester_org').notNull().references(() => organisations.id),
  protocol: text('protocol').notNull(),
  participants: jsonb('participants').$type<string[]>().notNull(),
  spec: jsonb('spec').$type<RunSpec | ChainRunSpec>().notNull(),
  status: text('status').$type<RunStatus>().notNull(),
  /** The sealed result envelope (a chain: its sealed outputs), once fetched from the workflow: ciphertext only. */
  result: jsonb('result').$type<Envelope | ChainRunResult>(),
  createdAt: createdAt(),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
}, (t) => [
  check('runs_status_check', sql`${t.status} in (${inList(Object.values(RunStatus))})`),
  index('runs_requester_org_idx').on(t.requesterOrg, t.createdAt),
]);

/** Append-only: a trigger in the migrations refuses UPDATE, DELETE and TRUNCATE. */
export const auditEvents = pgTable('audit_events', {
  id: bigserial('id', { mode: 'number' }).primaryKey(),
  at: timestamp('at', { withTimezone: true }).notNull().defaultNow(),
  actorKind: text('actor_kind').$type<ActorKind>().notNull(),
  /** A user id or site id; null for the system. */
  actorId: text('actor_id'),
  actorOrg: text('actor_org'),
  /** `<resource>.<verb>`, e.g. `organisation.create`, `site.revoke`. */
  action: text('action').notNull(),
  targetKind: text('target_kind').notNull(),
  targetId: text('target_id').notNull(),
  /** Ids and public metadata only; never secrets. */
  details: jsonb('details').$type<Record<string, string | number | boolean | null>>().notNull()
    .default({}),
}, (t) => [
  check('audit_events_actor_kind_check', sql`${t.actorKind} in (${inList(Object.values(ActorKind))})`),
  index('audit_events_target_idx').on(t.targetKind, t.targetId),
]);

export type Organisation = typeof organisations.$inferSelect;
export type OrgKey = typeof orgKeys.$inferSelect;
export type User = typeof users.$inferSelect;
export type Collaboration = typeof collaborations.$inferSelect;
export type CollaborationMember = typeof collaborationMembers.$inferSelect;
export type Site = typeof sites.$inferSelect;
export type RevokedToken = typeof revokedTokens.$inferSelect;
export type Run = typeof runs.$inferSelect;
export type AuditEvent = typeof auditEvents.$inferSelect;
