/**
 * The runs table as the runs routes use it: every read, insert and update of a run, each with
 * the audit event it owes in the same transaction. A run belongs to its requester's organisation:
 * reads are scoped to it, and an unknown id and another organisation's run look the same (404).
 */
import { and, desc, eq } from 'drizzle-orm';
import type { ChainOutput } from '../../common/chain.ts';
import type { Envelope } from '../../common/envelope.ts';
import { RunStatus } from '../../common/run-status.ts';
import type { Database } from '../../db/client.ts';
import { runs } from '../../db/schema.ts';
import type { ChainRunSpec, Run, RunSpec } from '../../db/schema.ts';
import type { AuditEntry } from '../audit/record-audit.ts';
import { recordAudit } from '../audit/record-audit.ts';
import { notFound } from '../errors.ts';
import type { UserPrincipal } from '../router.ts';

/** The most runs one listing answers with. */
const LIST_LIMIT = 200;

/** A run about to start: its row, and what its `run.start` audit event says. */
export interface NewRun {
  id: string;
  collaborationId: string;
  requester: UserPrincipal;
  protocol: string;
  participants: string[];
  spec: RunSpec | ChainRunSpec;
  at: Date;
  auditDetails: NonNullable<AuditEntry['details']>;
}

/** Reads and writes runs for the runs routes. */
export interface RunStore {
  /** The run `runId` of organisation `orgId`; throws ApiError 404 when there is none. */
  load(orgId: string, runId: string): Promise<Run>;
  /** Organisation `orgId`'s runs, newest first (at most 200). */
  listForOrg(orgId: string): Promise<Run[]>;
  /**
   * Inserts a running run and its audit event, then calls `startWorkflow` inside the same
   * transaction: if Temporal refuses the start, no run row is left behind.
   */
  insertStarted(run: NewRun, startWorkflow: () => Promise<void>): Promise<Run>;
  /** Records a status observed on the run's workflow (and a `run.status` event by the system). */
  recordStatus(run: Run, status: RunStatus, at: Date): Promise<Run>;
  /** Keeps the sealed result fetched from the workflow (ciphertext only), with a `run.result-store` event. */
  storeResult(run: Run, result: Envelope | { outputs: ChainOutput[] }, by: UserPrincipal, at: Date, details: NonNullable<AuditEntry['details']>): Promise<void>;
  /** Records that `by` asked the run to stop. */
  recordCancel(run: Run, by: UserPrincipal, at: Date): Promise<void>;
}

/** The run store over `db`. */
export function createRunStore(db: Database): RunStore {
  return {
    async load(orgId, runId) {
      const [run] = await db.select().from(runs).where(and(eq(runs.id, runId), eq(runs.requesterOrg, orgId))).limit(1);
      if (run === undefined) throw notFound('run', runId);
      return run;
    },

    listForOrg(orgId) {
      return db.select().from(runs).where(eq(runs.requesterOrg, orgId)).orderBy(desc(runs.createdAt)).limit(LIST_LIMIT);
    },

    insertStarted(run, startWorkflow) {
      return db.transaction(async (tx) => {
        const [row] = await tx.insert(runs).values({
          id: run.id, collaborationId: run.collaborationId, requesterId: run.requester.userId, requesterOrg: run.requester.orgId,
          protocol: run.protocol, participants: run.participants, spec: run.spec, status: RunStatus.Running, createdAt: run.at, updatedAt: run.at,
        }).returning();
        await recordAudit(tx, { actor: run.requester, action: 'run.start', target: { kind: 'run', id: run.id }, at: run.at, details: run.auditDetails });
        await startWorkflow();
        return row!;
      });
    },

    recordStatus(run, status, at) {
      return db.transaction(async (tx) => {
        const [row] = await tx.update(runs).set({ status, updatedAt: at }).where(eq(runs.id, run.id)).returning();
        await recordAudit(tx, { actor: 'system', action: 'run.status', target: { kind: 'run', id: run.id }, at, details: { from: run.status, to: status } });
        return row!;
      });
    },

    async storeResult(run, result, by, at, details) {
      await db.transaction(async (tx) => {
        await tx.update(runs).set({ result, updatedAt: at }).where(eq(runs.id, run.id));
        await recordAudit(tx, { actor: by, action: 'run.result-store', target: { kind: 'run', id: run.id }, at, details });
      });
    },

    async recordCancel(run, by, at) {
      await recordAudit(db, { actor: by, action: 'run.cancel', target: { kind: 'run', id: run.id }, at, details: {} });
    },
  };
}
