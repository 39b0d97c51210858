/**
 * `parley audit verify` on fresh runs of both protocols, on real parts (the test run's Temporal
 * server, site workers with their own keys, real containers): a clean export verifies, and each
 * kind of tampering with the exported history is found — with public keys only.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Envelope } from '../../common/envelope.ts';
import { generateOrgKeys, sealEnvelope } from '../../crypto/index.ts';
import { signEnvelope } from '../../crypto/envelope-signature.ts';
import { fileKeyDirectory } from '../../activities/key-directory.ts';
import type { AuditBundle } from '../../audit/audit-bundle.ts';
import { bundleText, exportAuditBundle } from '../../audit/export-bundle.ts';
import { verifyHistories } from '../../audit/verify-bundle.ts';
import type { Finding, VerifyReport } from '../../audit/verify-findings.ts';
import { COUNT_DATASET } from '../../demo/federation.ts';
import { createCodecApp } from '../../audit/codec/codec-app.ts';
import { jsonOf, type JsonPayload } from '../../audit/proto-payloads.ts';
import { testNamespace } from '../support/test-namespace.ts';
import { startRingFederation, type RingFederation } from '../support/audit-ring-run.ts';
import { historyText } from '../support/history-scan.ts';
import { linesOf, parley } from '../support/parley-cli.ts';

// This file's own sites: test files share one Temporal server, and a worker polls `site.<org>`.
const SITES = ['verify-north', 'verify-south', 'verify-east'];

let ring: RingFederation;
let dir: string;
let ringBundle: AuditBundle;
let ringTotal: bigint;
let additiveBundle: AuditBundle;
const address = inject('temporalAddress');

async function exported(workflowId: string): Promise<AuditBundle> {
  const keys = { directory: fileKeyDirectory(ring.federation.directoryDir), source: 'the test federation' };
  return (await exportAuditBundle({ client: ring.cluster.client, workflowId, keys })).bundle;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'parley-verify-test-'));
  ring = await startRingFederation(address, SITES, testNamespace(import.meta.url));
  const ringRun = await ring.run(undefined, 'ring');
  ringTotal = ringRun.total;
  ringBundle = await exported(ringRun.workflowId);
  additiveBundle = await exported((await ring.run(undefined, 'additive')).workflowId);
});

afterAll(async () => {
  await ring?.shutdown();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** `parley audit …` in this process, with no environment of its own: all it needs is given. */
const audit = (...argv: string[]) => parley(['audit', ...argv], { env: {} });

async function fileOf(bundle: AuditBundle, name: string): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, bundleText(bundle));
  return file;
}

// --- editing an exported history as an attacker with write access to it could -----------------

type Event = Record<string, unknown>;
const eventsOf = (bundle: AuditBundle) => bundle.histories[0]!.history.events;
const attrsOf = (event: Event) => Object.entries(event).find(([k]) => k.endsWith('EventAttributes'))![1] as Record<string, { payloads: Array<{ data: string }> }>;
const isType = (event: Event, type: string) => event.eventType === `EVENT_TYPE_${type}`;

/** The n-th (from 0) completed runStep's result event (prepareStep and endRun results are skipped; a prepareStep's is empty). */
function completedStep(bundle: AuditBundle, n: number): Event {
  return eventsOf(bundle).filter((e) => isType(e, 'ACTIVITY_TASK_COMPLETED') && attrsOf(e).result?.payloads[0]?.data !== undefined && decode(e, 'result') && typeof (decode(e, 'result') as { step?: unknown }).step === 'string')[n]!;
}

function decode(event: Event, member: 'input' | 'result'): unknown {
  return JSON.parse(Buffer.from(attrsOf(event)[member]!.payloads[0]!.data, 'base64').toString('utf8'));
}

function encode(event: Event, member: 'input' | 'result', value: unknown): void {
  attrsOf(event)[member]!.payloads[0]!.data = Buffer.from(JSON.stringify(value)).toString('base64');
}

/** A copy of the bundle with `edit` applied to the value in one event's payload. */
function tampered<T>(bundle: AuditBundle, pick: (copy: AuditBundle) => Event, member: 'input' | 'result', edit: (value: T) => unknown): AuditBundle {
  const copy = structuredClone(bundle);
  const event = pick(copy);
  const value = decode(event, member) as T;
  edit(value);
  encode(event, member, value);
  return copy;
}

interface Outcome {
  step: string;
  envelopes: Envelope[];
  output?: Envelope;
}

const flipAt = (text: string, i: number) => text.slice(0, i) + (text[i] === 'A' ? 'B' : 'A') + text.slice(i + 1);

async function verify(bundle: AuditBundle): Promise<VerifyReport> {
  return verifyHistories(bundle.histories, bundle.publicKeys);
}

const kinds = (findings: Finding[]) => [...new Set(findings.map((f) => f.kind))].sort();

describe('parley audit verify', () => {
  it('verifies a fresh ring run with public keys only: replay passes, no findings, a timeline of every step', async () => {
    const file = await fileOf(ringBundle, 'ring.audit.json');
    expect((await audit('replay', file)).code).toBe(0);
    const result = await audit('verify', file);
    expect(result.stderr).toMatch(/Verified in \d+ ms with public keys only/);
    expect(linesOf(result.stdout).at(-1)).toBe(`PASS  ${file}: no findings.`);
    expect(result.code).toBe(0);
    const text = result.stdout;
    expect(text).toMatch(/ring\.0\.start\s+verify-north\s+sha256:[0-9a-f]{12}\s+sent verify-north → verify-south #0 [\d.]+ KiB/);
    expect(text).toMatch(/ring\.3\.finish\s+verify-north\s+sha256:[0-9a-f]{12}\s+got verify-east#0 · sent verify-north → researcher #1 \(output\)/);
    expect(text).toMatch(/4 envelope\(s\) and 4 attestation\(s\) checked/);

    const json = await audit('verify', file, '--json');
    const report = JSON.parse(linesOf(json.stdout)[0]!) as VerifyReport;
    expect(report.findings).toEqual([]);
    expect(report.histories[0]!.timeline.map((s) => `${s.step}@${s.org}`)).toEqual(['ring.0.start@verify-north', 'ring.1.add@verify-south', 'ring.2.add@verify-east', 'ring.3.finish@verify-north']);
    for (const step of report.histories[0]!.timeline) expect(step.image.ran).toBe(step.image.digest);
  });

  it('verifies a fresh additive-shares run: 9 envelopes, 7 attestations, no findings', async () => {
    const file = await fileOf(additiveBundle, 'additive.audit.json');
    expect((await audit('replay', file)).code).toBe(0);
    const result = await audit('verify', file);
    expect(result.stdout).toMatch(/9 envelope\(s\) and 7 attestation\(s\) checked/);
    expect(result.code).toBe(0);
  });

  it('finds a single changed character in any field of an envelope, and exits 1', async () => {
    const fields: Array<[string, (e: Envelope) => void]> = [
      ['binding.step', (e) => (e.binding.step = `${e.binding.step}x`)],
      ['binding.seq', (e) => (e.binding.seq += 1)],
      ['jwe.protected', (e) => (e.jwe.protected = flipAt(e.jwe.protected, 20))],
      ['jwe.iv', (e) => (e.jwe.iv = flipAt(e.jwe.iv, 3))],
      ['jwe.ciphertext', (e) => (e.jwe.ciphertext = flipAt(e.jwe.ciphertext, 100))],
      ['jwe.tag', (e) => (e.jwe.tag = flipAt(e.jwe.tag, 5))],
      ['jwe.recipients.encrypted_key', (e) => (e.jwe.recipients[0]!.encrypted_key = flipAt(e.jwe.recipients[0]!.encrypted_key!, 7))],
      // One recipient: jose puts the ephemeral key in the protected header, flipped above.
      ['jwe.recipients.header.kid', (e) => (e.jwe.recipients[0]!.header!.kid = flipAt(e.jwe.recipients[0]!.header!.kid as string, 9))],
      ['sig', (e) => (e.sig = flipAt(e.sig, e.sig.length - 20))],
    ];
    for (const [field, edit] of fields) {
      // The envelope as the first step returned it; the copy the next step consumed stays intact.
      const bundle = tampered<Outcome>(ringBundle, (c) => completedStep(c, 0), 'result', (o) => edit(o.envelopes[0]!));
      const findings = (await verify(bundle)).findings;
      expect(kinds(findings), field).toContain('signature');
    }
    const file = await fileOf(tampered<Outcome>(ringBundle, (c) => completedStep(c, 1), 'result', (o) => void (o.envelopes[0]!.jwe.tag = flipAt(o.envelopes[0]!.jwe.tag, 2))), 'flipped.audit.json');
    const result = await audit('verify', file);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/signature\s+test-audit-\d+ event \d+ ring\.1\.add @ verify-south: envelope seq 0 from "verify-south" does not verify against "verify-south"'s published key/);
    expect(linesOf(result.stdout).at(-1)).toMatch(/^FAIL .*flipped\.audit\.json: \d+ finding\(s\)\.$/);
  });

  it('finds two envelopes swapped between steps', async () => {
    const copy = structuredClone(ringBundle);
    const [first, second] = [completedStep(copy, 1), completedStep(copy, 2)];
    const a = decode(first, 'result') as Outcome;
    const b = decode(second, 'result') as Outcome;
    [a.envelopes, b.envelopes] = [b.envelopes, a.envelopes];
    encode(first, 'result', a);
    encode(second, 'result', b);
    const findings = (await verify(copy)).findings;
    expect(kinds(findings)).toEqual(expect.arrayContaining(['attestation', 'binding', 'provenance']));
    expect(findings.some((f) => f.kind === 'binding' && /returned by step "ring\.1\.add" at "verify-south" is bound to step "ring\.2\.add" from "verify-east"/.test(f.message))).toBe(true);
  });

  it('finds a removed event, also when the remaining events are renumbered', async () => {
    const removed = structuredClone(ringBundle);
    const events = eventsOf(removed);
    const index = events.indexOf(completedStep(removed, 1));
    events.splice(index, 1);
    const gap = (await verify(removed)).findings;
    expect(gap).toContainEqual(expect.objectContaining({ kind: 'missing-event', message: expect.stringMatching(/^event \d+ is missing before event \d+$/) }));
    expect(kinds(gap)).toContain('provenance');

    // Renumbered, the ids no longer show the gap: the step without an outcome, and the envelope
    // consumed that no step returned, still do.
    events.forEach((e, i) => (e.eventId = String(i + 1)));
    const renumbered = (await verify(removed)).findings;
    expect(kinds(renumbered)).toEqual(expect.arrayContaining(['missing-event', 'provenance']));
    expect(renumbered).toContainEqual(expect.objectContaining({ kind: 'missing-event', message: expect.stringMatching(/has no outcome, though the workflow closed/) }));
  });

  it('finds an envelope re-signed with another key than its sender\'s published one', async () => {
    const mallory = await generateOrgKeys('mallory');
    const resign = async (e: Envelope) => (e.sig = await signEnvelope(e, mallory.sign.privateJwk, mallory.sign.publicJwk.kid));
    const copy = structuredClone(ringBundle);
    const event = completedStep(copy, 0);
    const outcome = decode(event, 'result') as Outcome;
    await resign(outcome.envelopes[0]!);
    encode(event, 'result', outcome);
    const findings = (await verify(copy)).findings;
    expect(findings).toContainEqual(expect.objectContaining({ kind: 'signature', step: 'ring.0.start', org: 'verify-north', message: expect.stringMatching(/envelope-signature-invalid/) }));
  });

  it('finds a replayed sequence number: a second envelope sealed by the real sender under a seq it already used', async () => {
    // Even the sender itself (holding its private key) cannot reuse a number unnoticed.
    const north = ring.federation.sites.find((s) => s.org === SITES[0])!;
    const copy = structuredClone(ringBundle);
    const event = completedStep(copy, 3);
    const outcome = decode(event, 'result') as Outcome;
    const replay = await sealEnvelope({
      binding: { ...outcome.output!.binding, seq: 0 },
      body: new TextEncoder().encode('{"total":"1"}'),
      sender: north.keys,
      recipients: [{ org: 'researcher', receiveJwk: ring.federation.requester.keys.receive.publicJwk }],
    });
    outcome.output = replay;
    encode(event, 'result', outcome);
    const findings = (await verify(copy)).findings;
    expect(findings).toContainEqual(expect.objectContaining({ kind: 'sequence', org: 'verify-north', message: expect.stringMatching(/used seq 0 for 2 different envelopes/) }));
    expect(findings).toContainEqual(expect.objectContaining({ kind: 'sequence', step: 'ring.3.finish', message: 'envelope 1 of the step has seq 0; the step was given seq 1 onwards' }));
    expect(kinds(findings)).toContain('attestation');
    expect(findings.some((f) => f.kind === 'signature')).toBe(false);
  });

  it('finds a step whose request names another image than the one its site attests it ran', async () => {
    const copy = tampered<{ image: { digest: string } }>(
      ringBundle,
      (c) => eventsOf(c).find((e) => isType(e, 'ACTIVITY_TASK_SCHEDULED'))!,
      'input',
      (request) => void (request.image.digest = `sha256:${'0'.repeat(64)}`),
    );
    const findings = (await verify(copy)).findings;
    expect(findings).toContainEqual(expect.objectContaining({ kind: 'image', step: 'ring.0.start', message: expect.stringMatching(/^the site attests image .* but the step asked for .*sha256:0{64}$/) }));
  });
});

describe('parley audit open', () => {
  it('opens for an organisation only what was sealed for it, and lists the rest as not for it', async () => {
    const file = await fileOf(ringBundle, 'open.audit.json');
    const researcher = await audit('open', file, '--key', ring.federation.requester.keyFile);
    expect(researcher.code).toBe(0);
    expect(linesOf(researcher.stderr)).toEqual(['1 envelope(s) opened for "researcher", 3 not for you.']);
    const text = researcher.stdout;
    expect(text).toMatch(new RegExp(`ring\\.3\\.finish\\s+from verify-north #1 → researcher\\n    \\{"total":"${ringTotal}"\\}`));
    expect(text).toMatch(/ring\.0\.start\s+from verify-north #0 → verify-south {2}\(not for you\)/);

    const south = ring.federation.sites.find((s) => s.org === 'verify-south')!;
    const json = await audit('open', file, '--key', south.keyFile, '--json');
    const entries = linesOf(json.stdout).map((line) => JSON.parse(line) as { status: string; step: string; content?: unknown });
    expect(entries.filter((e) => e.status === 'opened').map((e) => e.step)).toEqual(['ring.0.start']);
    expect(JSON.stringify(entries)).not.toContain(String(ringTotal));
  });

  it('refuses, and exits 1, an envelope for it that was altered in the history', async () => {
    const altered = tampered<Outcome>(ringBundle, (c) => completedStep(c, 3), 'result', (o) => void (o.output!.jwe.ciphertext = flipAt(o.output!.jwe.ciphertext, 10)));
    // The workflow's result holds the genuine copy; the altered one is refused on its own.
    const result = await audit('open', await fileOf(altered, 'open-altered.audit.json'), '--key', ring.federation.requester.keyFile, '--json');
    expect(result.code).toBe(1);
    expect(linesOf(result.stdout).map((l) => JSON.parse(l) as { status: string; problem?: string })).toContainEqual(expect.objectContaining({ status: 'refused', problem: 'ERR_ENVELOPE_TAMPERED (envelope-signature-invalid)' }));
  });
});

describe('a failed run', () => {
  it('keeps the failing algorithm\'s log out of the history, sealed for its site, and still verifies', async () => {
    const east = ring.federation.sites.find((s) => s.org === 'verify-east')!;
    const countFile = join(east.datasets[COUNT_DATASET]!, 'count');
    const count = await readFile(countFile, 'utf8');
    await writeFile(countFile, 'not-a-number\n');
    const workflowId = `test-audit-fail-${Date.now()}`;
    try {
      const failure = await ring.run(workflowId, 'ring').catch((err: unknown) => err);
      expect(failure).toBeInstanceOf(WorkflowFailedError);
      // The local cluster's client holds the sites' keys: it reads the failure in full.
      const cause = (failure as WorkflowFailedError).cause as { cause?: { type?: string; message?: string } };
      expect(cause.cause?.type).toBe('ERR_STEP_FAILED');
      expect(cause.cause?.message).toMatch(/Step "ring\.2\.add" failed at site "verify-east".*\n.*not a non-negative integer/s);
    } finally {
      await writeFile(countFile, count);
    }
    const handle = ring.cluster.client.workflow.getHandle(workflowId);
    const history = await historyText(handle);
    expect(history).not.toMatch(/non-negative integer/);
    expect(history).toMatch(/the rest is sealed for \\"verify-east\\"/);

    // A client without the key (the API's, an auditor's) reads where the details are, and no error.
    const connection = await Connection.connect({ address });
    try {
      const bare = await new Client({ connection, namespace: ring.cluster.namespace }).workflow.getHandle(workflowId).result().catch((err: unknown) => err);
      const bareCause = (bare as WorkflowFailedError).cause as { cause?: { type?: string; message?: string } };
      expect(bareCause.cause).toMatchObject({
        type: 'ERR_STEP_FAILED',
        // Parley's sentence only: the exit code is the container's, and sealed with its log lines.
        message: expect.stringMatching(/^Step "ring\.2\.add" failed at site "verify-east": its algorithm stopped with an error \(ERR_STEP_FAILED\); what it reported is sealed for the site\. \[the rest is sealed for "verify-east"/),
      });
      expect(bareCause.cause!.message).not.toMatch(/non-negative/);
    } finally {
      await connection.close();
    }

    // The codec server opens it with east's key only.
    const fetched = await handle.fetchHistory();
    const failed = fetched.events!.find((e) => e.activityTaskFailedEventAttributes)!.activityTaskFailedEventAttributes!.failure!;
    const attrs = failed.encodedAttributes!;
    const payload: JsonPayload = {
      metadata: Object.fromEntries(Object.entries(attrs.metadata!).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
      data: Buffer.from(attrs.data!).toString('base64'),
    };
    const CODEC_TOKEN = 'a-codec-token-for-this-test';
    const decode = async (app: ReturnType<typeof createCodecApp>) => {
      const response = await app.request('/decode', { method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${CODEC_TOKEN}` }, body: JSON.stringify({ payloads: [payload] }) });
      return jsonOf(((await response.json()) as { payloads: JsonPayload[] }).payloads[0]!) as { message: string };
    };
    expect((await decode(createCodecApp({ token: CODEC_TOKEN, keys: east.keys }))).message).toMatch(/not a non-negative integer/);
    expect((await decode(createCodecApp({ token: CODEC_TOKEN, keys: ring.federation.sites[0]!.keys }))).message).not.toMatch(/non-negative/);

    // The run failed, but nothing in its history was altered: verify has no finding.
    const report = await verify(await exported(workflowId));
    expect(report.findings).toEqual([]);
    expect(report.histories[0]!.timeline.map((s) => s.status)).toEqual(['completed', 'completed', 'failed']);
  });
});
