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
import { AUDIT_BUNDLE_FORMAT, type AuditBundle } from '../../audit/audit-bundle.ts';
import { findTemporalCli } from '../../provision/temporal-cli.ts';
import { testNamespace } from '../support/test-namespace.ts';
import { startRingFederation, type RingFederation, type RingRun } from '../support/audit-ring-run.ts';
import { plaintextFound } from '../support/history-scan.ts';
import { linesOf, parley } from '../support/parley-cli.ts';
import { testOrgs } from '../support/test-orgs.ts';

// This file's own sites: test files share one Temporal server, and a worker polls `site.<org>`.
const SITES = ['north', 'south', 'east'].map(testOrgs(import.meta.url));
const [NORTH, SOUTH, EAST] = SITES as [string, string, string];

let ring: RingFederation;
let run: RingRun;
let dir: string;
const address = inject('temporalAddress');
const namespace = testNamespace(import.meta.url);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'parley-audit-test-'));
  ring = await startRingFederation(address, SITES, namespace);
  run = await ring.run();
});

afterAll(async () => {
  await ring?.shutdown();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** `parley audit …` in this process, with no environment of its own: all it needs is given. */
const audit = (...argv: string[]) => parley(['audit', ...argv], { env: {} });

describe('parley audit on a fresh ring secure sum', () => {
  it('exports one bundle with the history and every named organisation\'s public keys, and it replays', async () => {
    const file = join(dir, 'ring.audit.json');
    const exported = await audit('export', run.workflowId, '--keys-dir', ring.federation.directoryDir, '-o', file, '--address', address, '--namespace', namespace);
    expect(exported).toMatchObject({ code: 0 });
    expect(exported.stdout).toMatch(new RegExp(`1 history\\(ies\\), \\d+ events, 4 envelope\\(s\\); public keys of ${EAST}, ${NORTH}, ${SOUTH}, researcher`));

    const text = await readFile(file, 'utf8');
    const bundle = JSON.parse(text) as AuditBundle;
    expect(bundle).toMatchObject({ format: AUDIT_BUNDLE_FORMAT, workflowId: run.workflowId });
    expect(bundle.histories).toHaveLength(1);
    expect(bundle.histories[0]!.history.events[0]!.eventType).toBe('EVENT_TYPE_WORKFLOW_EXECUTION_STARTED');
    expect(Object.keys(bundle.publicKeys).sort()).toEqual([...SITES, 'researcher'].sort());
    expect(text).not.toMatch(/"(d|privateJwk)"\s*:/);
    expect(plaintextFound(text, run.secrets)).toEqual([]);

    const replayed = await audit('replay', file);
    expect(replayed.code).toBe(0);
    expect(linesOf(replayed.stdout)).toEqual([expect.stringMatching(new RegExp(`^PASS .*${run.workflowId}.*events replayed`))]);
  });

  it('replays the history as the temporal CLI writes it', async () => {
    const cli = await findTemporalCli();
    if (!cli) throw new Error('The Temporal CLI is missing: run `parley setup`.');
    const { stdout } = await promisify(execFile)(cli, ['workflow', 'show', '--workflow-id', run.workflowId, '--output', 'json', '--address', address, '--namespace', namespace], { maxBuffer: 64 << 20 });
    const file = join(dir, `${run.workflowId}.json`);
    await writeFile(file, stdout);
    const replayed = await audit('replay', file, '--json');
    expect(replayed.code).toBe(0);
    expect(JSON.parse(linesOf(replayed.stdout)[0]!)).toMatchObject({ workflowId: run.workflowId });
    expect(JSON.parse(linesOf(replayed.stdout)[0]!).problem).toBeUndefined();
  });

  it('refuses to export without the public keys of every organisation the envelopes name, naming them', async () => {
    const partial = join(dir, 'partial-keys');
    await mkdir(partial);
    await cp(join(ring.federation.directoryDir, `${NORTH}.json`), join(partial, `${NORTH}.json`));
    const file = join(dir, 'partial.audit.json');
    const result = await audit('export', run.workflowId, '--keys-dir', partial, '-o', file, '--address', address, '--namespace', namespace);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(new RegExp(`public keys --keys-dir .* does not have: ${EAST}, ${SOUTH}, researcher`));
    await expect(readFile(file)).rejects.toThrow(/ENOENT/);
  });

  it('says clearly when the workflow does not exist', async () => {
    const result = await audit('export', 'no-such-run', '--keys-dir', ring.federation.directoryDir, '-o', join(dir, 'none.json'), '--address', address, '--namespace', namespace);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`No workflow "no-such-run" in namespace "${namespace}"`);
  });
});
