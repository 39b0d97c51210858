/**
 * The shared set-up of the API suites: one migrated database (PGlite or PostgreSQL, chosen by the
 * runner file), a first admin, a Temporal client on the test run's dev server in a namespace of
 * its own, and the app. Suites get it through the returned accessor once beforeAll has run.
 */
import { Client, Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common';
import { afterAll, beforeAll, inject } from 'vitest';
import type { OpenedDatabase } from '../../db/client.ts';
import { createApp } from '../app.ts';
import type { AppDeps } from '../app.ts';
import { ensureAdmin } from '../bootstrap.ts';
import type { LogFields, Logger } from '../logger.ts';
import { createTemporalRunLauncher } from '../runs/launcher.ts';
import { call, login } from './http.ts';

/** Cheap scrypt for tests (the default costs ~0.2 s a hash); the unit test covers the default. */
export const TEST_PASSWORD_COST = { log2N: 10, r: 8, p: 1 };
export const ADMIN = { username: 'root', password: 'root-password-for-tests' };

/** A captured log line. */
export interface LogLine {
  level: string;
  message: string;
  fields: LogFields;
}

/** What every suite works with. */
export interface Harness {
  driver: OpenedDatabase['driver'];
  database: OpenedDatabase;
  app: ReturnType<typeof createApp>;
  /** Builds another app over the same database and Temporal (own clock, limiter, logger). */
  makeApp(overrides?: Partial<AppDeps>): ReturnType<typeof createApp>;
  temporal: { address: string; namespace: string; client: Client };
  adminToken: string;
  logs: LogLine[];
  tokenSecret: Uint8Array;
}

/** A logger that appends to `lines`. */
export function captureLogger(lines: LogLine[]): Logger {
  const at = (level: string) => (message: string, fields: LogFields = {}) => {
    lines.push({ level, message, fields });
  };
  return { info: at('info'), warn: at('warn'), error: at('error') };
}

async function ensureNamespace(connection: Connection, namespace: string): Promise<void> {
  try {
    await connection.workflowService.registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs('1 day') });
  } catch (err) {
    if (!/already exists/i.test(String((err as Error).message))) throw err;
  }
}

/**
 * Registers beforeAll/afterAll that build the harness; returns its accessor.
 * `openDatabase` opens a fresh, migrated database for this file.
 */
export function useApiHarness(name: string, openDatabase: () => Promise<OpenedDatabase>): () => Harness {
  let harness: Harness | undefined;
  let connection: Connection | undefined;
  let database: OpenedDatabase | undefined;

  beforeAll(async () => {
    database = await openDatabase();
    const address = inject('temporalAddress');
    connection = await Connection.connect({ address });
    // Its own namespace: the real coordinator polls parley.coordinator in `default` during other tests.
    const namespace = `parley-api-${name}`;
    await ensureNamespace(connection, namespace);
    const client = new Client({ connection, namespace });
    await ensureAdmin(database.db, { orgId: 'central', orgName: 'Central', ...ADMIN, passwordCost: TEST_PASSWORD_COST });
    const logs: LogLine[] = [];
    const tokenSecret = crypto.getRandomValues(new Uint8Array(32));
    const db = database.db;
    const makeApp = (overrides: Partial<AppDeps> = {}) => createApp({
      db, tokenSecret, runs: createTemporalRunLauncher(client), passwordCost: TEST_PASSWORD_COST, logger: captureLogger(logs), ...overrides,
    });
    const app = makeApp();
    const adminToken = await login(app, ADMIN.username, ADMIN.password);
    harness = { driver: database.driver, database, app, makeApp, temporal: { address, namespace, client }, adminToken, logs, tokenSecret };
    // Sanity: the harness works before any suite relies on it.
    const health = await call(app, 'GET', '/healthz');
    if (health.status !== 200) throw new Error(`healthz answered ${health.status}`);
  });

  afterAll(async () => {
    await connection?.close();
    await database?.close();
  });

  return () => {
    if (harness === undefined) throw new Error('the API harness is not set up (beforeAll failed?)');
    return harness;
  };
}
