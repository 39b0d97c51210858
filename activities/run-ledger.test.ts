import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EnvelopeBinding } from '../common/envelope.ts';
import { ErrorCode } from '../common/errors.ts';
import { createRunLedger } from './run-ledger.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'parley-run-ledger-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const from = (org: string, seq: number, step = 'sum'): EnvelopeBinding => ({ runId: 'run-1', step, from: org, to: ['south'], seq });

describe('the run ledger', () => {
  it('admits each (run, sender, seq) once, durably, and the same envelope at the same step again', async () => {
    const ledger = createRunLedger(dir);
    expect(await ledger.admit(from('north', 0), 'd1')).toBe(true);
    const reopened = createRunLedger(dir);
    expect(await reopened.admit(from('north', 0), 'd1')).toBe(true);
    expect(await reopened.admit(from('north', 0), 'd2')).toBe(false);
    expect(await reopened.admit(from('north', 0, 'other'), 'd1')).toBe(false);
  });

  it('checks a batch at once against the ledger and itself, and writes it only at commit', async () => {
    const ledger = createRunLedger(dir);
    await ledger.admit(from('north', 0), 'd1');
    const batch = ledger.batch();
    expect(await batch.admit(from('north', 0), 'other')).toBe(false);
    expect(await batch.admit(from('east', 0), 'e1')).toBe(true);
    expect(await batch.admit(from('east', 0), 'e2')).toBe(false);
    expect(await batch.admit(from('west', 4), 'w1')).toBe(true);
    // Not yet written: the ledger on disk would still take (east, 0) for another envelope.
    const onDisk = createRunLedger(dir).batch();
    expect(await onDisk.admit(from('east', 0), 'e2')).toBe(true);
    await batch.commit();
    const after = createRunLedger(dir);
    expect(await after.admit(from('east', 0), 'e2')).toBe(false);
    expect(await after.admit(from('west', 4), 'w1')).toBe(true);
    expect(await after.admit(from('north', 0), 'd1')).toBe(true);
  });

  it('refuses at commit what another step admitted meanwhile for another envelope', async () => {
    const ledger = createRunLedger(dir);
    const batch = ledger.batch();
    expect(await batch.admit(from('east', 1), 'mine')).toBe(true);
    expect(await ledger.admit(from('east', 1), 'theirs')).toBe(true);
    await expect(batch.commit()).rejects.toMatchObject({ code: ErrorCode.EnvelopeReplayed, details: { from: 'east', seq: 1 } });
    expect(await ledger.admit(from('east', 1), 'mine')).toBe(false);
  });
});
