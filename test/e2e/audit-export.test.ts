/**
 * `parley audit export` then `parley audit replay` on a fresh ring secure sum, on real parts:
 * the test run's Temporal server, site workers with their own keys, real containers.
 */
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { CommandIo } from '../../cli/lib/command.ts';
import { auditCommand } from '../../cli/commands/audit.ts';
import { AUDIT_BUNDLE_FORMAT, type AuditBundle } from '../../audit/audit-bundle.ts';
import { findTemporalCli } from '../../provision/temporal-cli.ts';
import { RING_SITES, startRingFederation, type RingFederation, type RingRun } from '../support/audit-ring-run.ts';
import { plaintextFound } from '../support/history-scan.ts';

let ring: RingFederation;
let run: RingRun;
let dir: string;
const address = inject('temporalAddress');

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'parley-audit-test-'));
  ring = await startRingFederation(address);
  run = await ring.run();
});

afterAll(async () => {
  await ring?.shutdown();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Runs `parley audit …` in this process, capturing what it prints. */
async function parley(...argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const io: CommandIo = { out: (l) => out.push(l), err: (l) => err.push(l), signal: new AbortController().signal, env: {} };
  let code: number;
  try {
    code = await auditCommand.run(argv, io);
  } catch (e) {
    err.push((e as Error).message);
    code = e instanceof Error && e.name === 'UsageError' ? 2 : 1;
  }
  return { code, out, err };
}

describe('parley audit on a fresh ring secure sum', () => {
  it('exports one bundle with the history and every named organisation\'s public keys, and it replays', async () => {
    const file = join(dir, 'ring.audit.json');
    const exported = await parley('export', run.workflowId, '--keys-dir', ring.federation.directoryDir, '-o', file, '--address', address);
    expect(exported).toMatchObject({ code: 0 });
    expect(exported.out.join('\n')).toMatch(/1 history\(ies\), \d+ events, 4 envelope\(s\); public keys of audit-east, audit-north, audit-south, researcher/);

    const text = await readFile(file, 'utf8');
    const bundle = JSON.parse(text) as AuditBundle;
    expect(bundle).toMatchObject({ format: AUDIT_BUNDLE_FORMAT, workflowId: run.workflowId });
    expect(bundle.histories).toHaveLength(1);
    expect(bundle.histories[0]!.history.events[0]!.eventType).toBe('EVENT_TYPE_WORKFLOW_EXECUTION_STARTED');
    expect(Object.keys(bundle.publicKeys).sort()).toEqual([...RING_SITES, 'researcher'].sort());
    expect(text).not.toMatch(/"(d|privateJwk)"\s*:/);
    expect(plaintextFound(text, run.secrets)).toEqual([]);

    const replayed = await parley('replay', file);
    expect(replayed.code).toBe(0);
    expect(replayed.out).toEqual([expect.stringMatching(new RegExp(`^PASS .*${run.workflowId}.*events replayed`))]);
  });

  it('replays the history as the temporal CLI writes it', async () => {
    const cli = await findTemporalCli();
    if (!cli) throw new Error('The Temporal CLI is missing: run `parley setup`.');
    const { stdout } = await promisify(execFile)(cli, ['workflow', 'show', '--workflow-id', run.workflowId, '--output', 'json', '--address', address], { maxBuffer: 64 << 20 });
    const file = join(dir, `${run.workflowId}.json`);
    await writeFile(file, stdout);
    const replayed = await parley('replay', file, '--json');
    expect(replayed.code).toBe(0);
    expect(JSON.parse(replayed.out[0]!)).toMatchObject({ workflowId: run.workflowId });
    expect(JSON.parse(replayed.out[0]!).problem).toBeUndefined();
  });

  it('refuses to export without the public keys of every organisation the envelopes name, naming them', async () => {
    const partial = join(dir, 'partial-keys');
    await mkdir(partial);
    await cp(join(ring.federation.directoryDir, 'audit-north.json'), join(partial, 'audit-north.json'));
    const file = join(dir, 'partial.audit.json');
    const result = await parley('export', run.workflowId, '--keys-dir', partial, '-o', file, '--address', address);
    expect(result.code).toBe(1);
    expect(result.err.join('\n')).toMatch(/public keys --keys-dir .* does not have: audit-east, audit-south, researcher/);
    await expect(readFile(file)).rejects.toThrow(/ENOENT/);
  });

  it('says clearly when the workflow does not exist', async () => {
    const result = await parley('export', 'no-such-run', '--keys-dir', ring.federation.directoryDir, '-o', join(dir, 'none.json'), '--address', address);
    expect(result.code).toBe(1);
    expect(result.err.join('\n')).toMatch(/No workflow "no-such-run" in namespace "default"/);
  });
});
