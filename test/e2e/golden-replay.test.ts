/**
 * Recorded histories replayed against the current workflow code: a change to a workflow that
 * would break replay of past runs fails here. To re-record after an intentional, incompatible
 * change, see the README's "Auditing" section, test/golden/record.ts (the secure sums) and
 * test/golden/record-chain.ts (the example chain).
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseOrgPublicKeys } from '../../crypto/index.ts';
import { AUDIT_BUNDLE_FORMAT, type AuditBundle } from '../../audit/audit-bundle.ts';
import { readHistoryFile, type HistorySource } from '../../audit/read-history-file.ts';
import { replayHistories } from '../../audit/replay-histories.ts';
import { installReplayRuntime } from '../../audit/replay-runtime.ts';
import { readAuditFile } from '../../audit/read-audit-file.ts';
import { verifyHistories } from '../../audit/verify-bundle.ts';
import { workflowBundle } from '../../workers/coordinator/workflow-bundle.ts';
import { bundleModifiedWorkflows } from '../support/modified-workflow-bundle.ts';

const GOLDEN_DIR = fileURLToPath(new URL('../golden/', import.meta.url));
const RING = join(GOLDEN_DIR, 'secure-sum-ring-3.json');
const ADDITIVE = join(GOLDEN_DIR, 'secure-sum-additive-3.json');
const CHAIN = join(GOLDEN_DIR, 'cohort-mean-3.json');

let goldenFiles: string[];

beforeAll(async () => {
  installReplayRuntime();
  goldenFiles = (await readdir(GOLDEN_DIR)).filter((name) => name.endsWith('.json')).sort().map((name) => join(GOLDEN_DIR, name));
});

describe('golden histories', () => {
  it('every recorded history replays against the current workflow code', async () => {
    expect(goldenFiles).toEqual(expect.arrayContaining([RING, ADDITIVE, CHAIN]));
    const sources: HistorySource[] = [];
    for (const file of goldenFiles) sources.push(...(await readHistoryFile(file)));
    const outcomes = await replayHistories(sources, await workflowBundle());
    expect(outcomes.filter((o) => o.problem)).toEqual([]);
    expect(outcomes).toHaveLength(sources.length);
  });

  it('are audit bundles holding public keys only', async () => {
    for (const file of goldenFiles) {
      const text = await readFile(file, 'utf8');
      const bundle = JSON.parse(text) as AuditBundle;
      expect(bundle.format).toBe(AUDIT_BUNDLE_FORMAT);
      for (const [org, keys] of Object.entries(bundle.publicKeys)) expect(parseOrgPublicKeys(keys).org).toBe(org);
      expect(text).not.toMatch(/"(d|privateJwk)"\s*:/);
    }
  });

  it('every recorded history verifies with its bundled public keys, without findings', async () => {
    for (const file of goldenFiles) {
      const { histories, publicKeys } = await readAuditFile(file);
      const report = await verifyHistories(histories, publicKeys);
      expect(report.findings, file).toEqual([]);
      expect(report.histories[0]!.attestations, file).toBeGreaterThan(0);
    }
  });

  it('catches a change that schedules an extra activity before the ring starts, naming the event', async () => {
    const changed = await bundleModifiedWorkflows('secure-sum-ring.ts', (source) =>
      source.replace('    const total = await runRingProtocol(', '    await endRunAt(runId, participants[0]!);\n    const total = await runRingProtocol('));
    const [outcome] = await replayHistories(await readHistoryFile(RING), changed);
    expect(outcome?.problem).toMatchObject({ kind: 'nondeterminism', eventId: 5, eventType: 'ActivityTaskScheduled' });
    expect(outcome?.problem?.detail).toMatch(/'runStep' does not match .* 'endRun'/);
  });
});
