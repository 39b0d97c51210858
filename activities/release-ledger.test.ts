import { appendFile, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, isParleyError } from '../common/errors.ts';
import { openReleaseLedger, readReleases } from './release-ledger.ts';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'parley-release-ledger-'));
});
afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

const ids = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => `A${100000 + from + i}`);
const cohort = (runId: string, rows: string[], dataset = 'patients') => ({ runId, step: 'preprocess', org: 'north', dataset, rows, threshold: 10 });

async function refusalOf(promise: Promise<unknown>) {
  const err = await promise.then(() => undefined, (e: unknown) => e);
  if (!isParleyError(err)) throw new Error(`expected a ParleyError, got ${String(err)}`);
  return err;
}

describe('release ledger', () => {
  it('refuses a cohort one patient away from a released one, and allows the same cohort again and one ten rows away', async () => {
    const ledger = openReleaseLedger(join(root, 'differencing'));
    await ledger.admit(cohort('run-1', ids(0, 80)));
    const err = await refusalOf(ledger.admit(cohort('run-2', ids(1, 80))));
    expect(err.code).toBe(ErrorCode.DisclosureDifference);
    expect(err.message).toMatch(/^Step "preprocess" at site "north" formed a cohort of dataset "patients" that differs from one the site released earlier by fewer rows than its disclosure threshold of 10 \(ERR_DISCLOSURE_DIFFERENCE\)\./);
    // Neither the difference, nor the earlier run, nor a row id.
    expect(err.message).not.toMatch(/\b1\b|run-1|A100000/);
    await ledger.admit(cohort('run-3', ids(0, 80)));
    await ledger.admit(cohort('run-4', ids(10, 80)));
    // One row added is as much a difference as one taken away.
    expect((await refusalOf(ledger.admit(cohort('run-5', ids(0, 81))))).code).toBe(ErrorCode.DisclosureDifference);
    // Other datasets keep ledgers of their own.
    await ledger.admit(cohort('run-6', ids(1, 80), 'visits'));
    expect((await readReleases(join(root, 'differencing'))).map((r) => r.runId)).toEqual(['run-1', 'run-3', 'run-4', 'run-6']);
  });

  it('keeps keyed hashes, never the ids, with its secret readable by the site alone', async () => {
    const dir = join(root, 'hashes');
    const record = await openReleaseLedger(dir).admit(cohort('run-1', ids(0, 20)));
    const text = await readFile(join(dir, 'releases.jsonl'), 'utf8');
    expect(text).not.toContain('A1000');
    expect(record).toMatchObject({ dataset: 'patients', runId: 'run-1', step: 'preprocess', size: 20 });
    expect(record.rows).toHaveLength(20);
    // Without the secret, a plain SHA-256 of a candidate id matches nothing in the ledger.
    const { createHash } = await import('node:crypto');
    expect(text).not.toContain(createHash('sha256').update('A100000').digest('hex'));
    expect((await stat(join(dir, 'secret'))).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, 'releases.jsonl'))).mode & 0o777).toBe(0o600);
    // Another site's secret gives other hashes for the same cohort.
    const elsewhere = await openReleaseLedger(join(root, 'hashes-other')).admit(cohort('run-1', ids(0, 20)));
    expect(elsewhere.setHash).not.toBe(record.setHash);
  });

  it('survives a restart: a new ledger over the same directory still refuses the differencing cohort', async () => {
    const dir = join(root, 'restart');
    await openReleaseLedger(dir).admit(cohort('run-1', ids(0, 40)));
    const afterRestart = openReleaseLedger(dir);
    expect((await refusalOf(afterRestart.admit(cohort('run-2', ids(0, 39))))).code).toBe(ErrorCode.DisclosureDifference);
  });

  it('ignores a torn last line and appends after it cleanly; refuses to run over a corrupt line', async () => {
    const dir = join(root, 'torn');
    await openReleaseLedger(dir).admit(cohort('run-1', ids(0, 30)));
    await appendFile(join(dir, 'releases.jsonl'), '{"dataset":"patients","at":"2026');
    const ledger = openReleaseLedger(dir);
    await ledger.admit(cohort('run-2', ids(0, 30)));
    expect((await readReleases(dir)).map((r) => r.runId)).toEqual(['run-1', 'run-2']);

    await appendFile(join(dir, 'releases.jsonl'), 'not a record\n');
    const err = await refusalOf(openReleaseLedger(dir).admit(cohort('run-3', ids(0, 30))));
    expect(err.code).toBe(ErrorCode.InvalidInput);
    expect(err.message).toMatch(/unreadable line 3\. The site releases nothing until/);
  });

  it('checks concurrent cohorts one after the other, so two near-identical ones cannot both pass', async () => {
    const ledger = openReleaseLedger(join(root, 'concurrent'));
    const outcomes = await Promise.allSettled([ledger.admit(cohort('run-1', ids(0, 50))), ledger.admit(cohort('run-2', ids(0, 49)))]);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected']);
  });
});
