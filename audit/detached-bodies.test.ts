/**
 * Detached bodies in an audit: a bundle carries each large message's sealed body as a file beside
 * it; `audit verify` checks the body against its envelope's clear, signed reference with public
 * keys only, and `audit open` decrypts it for a recipient only once it is the signed one.
 * The attacks: a curious operator or a co-recipient substitutes another valid sealed body, cuts
 * one short, or leaves it out; a bundle names a bodies directory outside itself.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Envelope } from '../common/envelope.ts';
import { ErrorCode } from '../common/errors.ts';
import { generateOrgKeys, newFileKey, publicKeysOf, sealBodyStream, sealEnvelope, type OrgKeys, type OrgPublicKeys } from '../crypto/index.ts';
import { AUDIT_BUNDLE_FORMAT, type HistoryJson } from './audit-bundle.ts';
import { bodiesDirectoryName, directoryBodies, writeBundleBodies } from './bundle-bodies.ts';
import { detachedBodiesInHistories, memoryBodies } from './detached-bodies.ts';
import { openForOrg } from './open-for-org.ts';
import { jsonPayload } from './proto-payloads.ts';
import { readAuditFile } from './read-audit-file.ts';
import { verifyHistories } from './verify-bundle.ts';

const RUN = 'run-detached-1';
let north: OrgKeys;
let south: OrgKeys;
let east: OrgKeys;
let publicKeys: Record<string, OrgPublicKeys>;
let dir: string;
/** Two large messages from north: to south (seq 0), and to south and east (seq 1). */
const messages: Array<{ envelope: Envelope; sealed: Buffer; text: string; fileKey: Buffer }> = [];

const BODY_BYTES = 200_000; // four chunks of the stream: truncation at a chunk boundary is possible
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('base64url');

async function sealBody(text: string, fileKey: Uint8Array): Promise<Buffer> {
  const pieces: Buffer[] = [];
  for await (const piece of sealBodyStream((async function* () { yield Buffer.from(JSON.stringify({ text })); })(), fileKey)) pieces.push(piece);
  return Buffer.concat(pieces);
}

async function sealLarge(seq: number, to: OrgKeys[], text: string) {
  const fileKey = newFileKey();
  const sealed = await sealBody(text, fileKey);
  const envelope = await sealEnvelope({
    binding: { runId: RUN, step: 'send', from: north.org, to: to.map((k) => k.org).sort(), seq },
    detached: { fileKey, digest: sha256(sealed), size: sealed.length },
    sender: north,
    recipients: to.map((k) => ({ org: k.org, receiveJwk: publicKeysOf(k).receive.jwk })),
  });
  // A copy: what a recipient learns on opening, kept for the co-recipient's attack.
  return { envelope, sealed, text, fileKey: Buffer.from(fileKey) };
}

/** A history that carries the envelopes as a workflow's result does: in a JSON payload. */
function historyOf(envelopes: Envelope[]): HistoryJson {
  return {
    events: [
      { eventId: '1', eventType: 'EVENT_TYPE_WORKFLOW_EXECUTION_STARTED', workflowExecutionStartedEventAttributes: { workflowType: { name: 'test' } } },
      { eventId: '2', eventType: 'EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED', workflowExecutionCompletedEventAttributes: { result: { payloads: [jsonPayload({ envelopes })] } } },
    ],
  };
}
const histories = () => [{ workflowId: RUN, history: historyOf(messages.map((m) => m.envelope)) }];
const bodies = (entries: Array<[string, Uint8Array]>) => memoryBodies(new Map(entries));
const untouched = () => bodies(messages.map((m) => [m.envelope.detached!.digest, m.sealed]));
// Only what the bodies decide; the one-event history has findings of its own (no steps, no start).
const bodyFindings = async (source = untouched()) =>
  (await verifyHistories(histories(), publicKeys, { bodies: source })).findings.filter((f) => f.kind === 'body' || f.kind === 'unverifiable' || f.kind === 'signature').map((f) => `${f.kind}: ${f.message}`);

beforeAll(async () => {
  [north, south, east] = await Promise.all([generateOrgKeys('det-north'), generateOrgKeys('det-south'), generateOrgKeys('det-east')]);
  publicKeys = Object.fromEntries([north, south, east].map((k) => [k.org, publicKeysOf(k)]));
  messages.push(await sealLarge(0, [south], 'a'.repeat(BODY_BYTES)), await sealLarge(1, [south, east], 'b'.repeat(BODY_BYTES)));
  dir = await mkdtemp(join(tmpdir(), 'parley-detached-audit-'));
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('audit verify, with a detached body', () => {
  it('finds each body the envelopes name, once, by their clear references', () => {
    const found = detachedBodiesInHistories([historyOf([...messages.map((m) => m.envelope), messages[0]!.envelope])]);
    expect(found.map((b) => [b.digest, b.size, b.binding.seq])).toEqual(messages.map((m) => [sha256(m.sealed), m.sealed.length, m.envelope.binding.seq]));
  });

  it('passes untouched bodies, with public keys only', async () => {
    expect(await bodyFindings()).toEqual([]);
  });

  it('catches another valid sealed body put in its place, by its digest', async () => {
    // A co-recipient of seq 1 (east) puts seq 1's genuine sealed body where seq 0's should be.
    const [first, second] = messages as [typeof messages[0], typeof messages[0]];
    const findings = await bodyFindings(bodies([[first.envelope.detached!.digest, second.sealed], [second.envelope.detached!.digest, second.sealed]]));
    expect(findings).toEqual([`body: the sealed body of envelope seq 0 from "det-north" (${first.envelope.detached!.digest}, ${first.sealed.length} bytes) is not the one its sender signed (its SHA-256 differs): the blob store or the bundle's copy was altered or swapped`]);
    // One byte flipped: the SHA-256 tells too.
    const flipped = Buffer.from(first.sealed);
    flipped[flipped.length - 1]! ^= 1;
    expect(await bodyFindings(bodies([[first.envelope.detached!.digest, flipped], [second.envelope.detached!.digest, second.sealed]]))).toEqual([expect.stringContaining('is not the one its sender signed (its SHA-256 differs)')]);
  });

  it('catches a body cut short at a chunk boundary, or made longer', async () => {
    const [first, second] = messages as [typeof messages[0], typeof messages[0]];
    for (const changed of [first.sealed.subarray(0, 16 + 65_552), Buffer.concat([first.sealed, Buffer.alloc(1)])]) {
      expect(await bodyFindings(bodies([[first.envelope.detached!.digest, changed], [second.envelope.detached!.digest, second.sealed]]))).toEqual([expect.stringContaining('(its length differs)')]);
    }
  });

  it('says a body is not in the bundle, and what to do, rather than failing', async () => {
    const [first, second] = messages as [typeof messages[0], typeof messages[0]];
    const findings = await bodyFindings(bodies([[second.envelope.detached!.digest, second.sealed]]));
    expect(findings).toEqual([`unverifiable: the sealed body of envelope seq 0 from "det-north" (${first.envelope.detached!.digest}, ${first.sealed.length} bytes) is not in the bundle: copy the bundle's bodies directory beside it, or export the bundle again with --api before the run's retention removes the body`]);
  });

  it('reports a relay that points the clear reference at another body as a signature finding', async () => {
    const [first, second] = messages as [typeof messages[0], typeof messages[0]];
    const pointed = { ...first.envelope, detached: second.envelope.detached };
    const report = await verifyHistories([{ workflowId: RUN, history: historyOf([pointed]) }], publicKeys, { bodies: untouched() });
    expect(report.findings.filter((f) => f.kind === 'signature').map((f) => f.message)).toEqual([expect.stringContaining('envelope seq 0 from "det-north" does not verify against "det-north"\'s published key')]);
  });
});

describe('audit open, with a detached body', () => {
  const entriesAt = async (keys: OrgKeys, source = untouched()) =>
    (await openForOrg(histories(), keys, publicKeys, { bodies: source })).map((e) => ({ seq: e.seq, status: e.status, ...(e.problem ? { problem: e.problem } : {}), ...(e.content ? { text: (e.content as { text: string }).text.slice(0, 3) } : {}) }));

  it('opens a body sealed for it, and shows its clear reference but never its key', async () => {
    const entries = await openForOrg(histories(), east, publicKeys, { bodies: untouched() });
    expect(entries.map((e) => [e.seq, e.status])).toEqual([[0, 'not-for-you'], [1, 'opened']]);
    expect((entries[1]!.content as { text: string }).text).toBe('b'.repeat(BODY_BYTES));
    expect(entries[1]!.detached).toEqual(messages[1]!.envelope.detached);
    expect(Object.keys(entries[1]!).sort()).toEqual(['content', 'detached', 'from', 'seq', 'status', 'step', 'to', 'workflowId']);
  });

  it('refuses a substituted body, even another valid sealed stream for the same recipient', async () => {
    const [first, second] = messages as [typeof messages[0], typeof messages[0]];
    const swapped = bodies([[first.envelope.detached!.digest, second.sealed], [second.envelope.detached!.digest, second.sealed]]);
    expect(await entriesAt(south, swapped)).toEqual([
      { seq: 0, status: 'refused', problem: `${ErrorCode.EnvelopeTampered} (body-digest)` },
      { seq: 1, status: 'opened', text: 'bbb' },
    ]);
  });

  it('refuses a body a co-recipient sealed anew under the key it learnt, which decrypts chunk by chunk: the signed digest tells', async () => {
    // East is a recipient of seq 1 with south, so it knows seq 1's file key: it seals a body of
    // its own, of the same length, under that key, and puts it in place for south.
    const [first, second] = messages as [typeof messages[0], typeof messages[0]];
    const forged = await sealBody('c'.repeat(BODY_BYTES), second.fileKey);
    expect(forged.length).toBe(second.sealed.length);
    const source = bodies([[first.envelope.detached!.digest, first.sealed], [second.envelope.detached!.digest, forged]]);
    expect(await bodyFindings(source)).toEqual([expect.stringContaining(`envelope seq 1 from "det-north" (${second.envelope.detached!.digest}, ${second.sealed.length} bytes) is not the one its sender signed (its SHA-256 differs)`)]);
    expect(await entriesAt(south, source)).toEqual([
      { seq: 0, status: 'opened', text: 'aaa' },
      { seq: 1, status: 'refused', problem: `${ErrorCode.EnvelopeTampered} (body-digest)` },
    ]);
  });

  it('refuses a truncated body, and says when the bundle has none', async () => {
    const [first, second] = messages as [typeof messages[0], typeof messages[0]];
    const cut = bodies([[first.envelope.detached!.digest, first.sealed.subarray(0, first.sealed.length - 1)]]);
    const entries = await entriesAt(south, cut);
    expect(entries[0]).toEqual({ seq: 0, status: 'refused', problem: `${ErrorCode.EnvelopeTampered} (body-size)` });
    expect(entries[1]).toEqual({ seq: 1, status: 'refused', problem: expect.stringContaining(`${ErrorCode.BlobMissing}: The sealed body ${second.envelope.detached!.digest} of a message of run "${RUN}" is not in the bundle.`) });
  });
});

describe('a bundle\'s bodies directory', () => {
  const fetcher = (store: Map<string, Uint8Array>) => ({
    source: 'the test store',
    stream: async (_run: string, digest: string) => {
      const bytes = store.get(digest);
      if (bytes === undefined) throw Object.assign(new Error('GET: not found'), { status: 404 });
      return (async function* () { yield bytes; })();
    },
  });

  it('is written beside the bundle, read back by `audit verify` and `audit open` from the file', async () => {
    const file = join(dir, 'run.audit.json');
    const bodiesDir = join(dir, bodiesDirectoryName(file));
    await writeBundleBodies(detachedBodiesInHistories(histories().map((h) => h.history)), bodiesDir, fetcher(new Map(messages.map((m) => [m.envelope.detached!.digest, m.sealed]))));
    expect((await readdir(bodiesDir)).sort()).toEqual(messages.map((m) => m.envelope.detached!.digest).sort());
    await writeFile(file, JSON.stringify({ format: AUDIT_BUNDLE_FORMAT, workflowId: RUN, exportedAt: new Date().toISOString(), histories: histories(), publicKeys, bodiesDirectory: 'run.audit.bodies' }));
    const read = await readAuditFile(file);
    expect(await bodyFindings(read.bodies)).toEqual([]);
    const opened = await openForOrg(read.histories, south, read.publicKeys, { blobs: read.blobs, bodies: read.bodies });
    expect(opened.map((e) => e.status)).toEqual(['opened', 'opened']);
  });

  it('refuses to write a body the store altered, naming the run, the digest and what to do, and leaves nothing of it', async () => {
    const target = join(dir, 'altered.bodies');
    const [first] = messages as [typeof messages[0]];
    const flipped = Buffer.from(first.sealed);
    flipped[100]! ^= 1;
    const refusal = await writeBundleBodies(detachedBodiesInHistories([historyOf([first.envelope])]), target, fetcher(new Map([[first.envelope.detached!.digest, flipped]]))).catch((e: unknown) => e);
    expect(refusal).toMatchObject({ code: ErrorCode.EnvelopeTampered, details: { runId: RUN, digest: first.envelope.detached!.digest, reason: 'body-digest' } });
    expect((refusal as Error).message).toContain(`The sealed body ${first.envelope.detached!.digest} (${first.sealed.length} bytes) of the message seq 0 from "det-north" at step "send" of run "${RUN}" is not the body its sender signed: the test store gave bytes of another SHA-256.`);
    expect(await readdir(target)).toEqual([]);
  });

  it('says a body the store no longer has was removed with the run\'s retention: export sooner', async () => {
    const refusal = await writeBundleBodies(detachedBodiesInHistories(histories().map((h) => h.history)), join(dir, 'gone.bodies'), fetcher(new Map())).catch((e: unknown) => e);
    expect(refusal).toMatchObject({ code: ErrorCode.BlobMissing, details: { runId: RUN, digest: messages[0]!.envelope.detached!.digest } });
    expect((refusal as Error).message).toContain('removed with the run\'s retention');
    expect((refusal as Error).message).toContain('Export a run\'s bundle soon after it ends');
  });

  it('is only ever a plain name beside the bundle: a bundle naming another place is refused', async () => {
    const outside = join(dir, 'outside');
    await mkdir(outside, { recursive: true });
    const file = join(dir, 'sub', 'evil.audit.json');
    await mkdir(join(dir, 'sub'), { recursive: true });
    for (const name of ['../outside', '/etc', '..']) {
      await writeFile(file, JSON.stringify({ format: AUDIT_BUNDLE_FORMAT, workflowId: RUN, exportedAt: new Date().toISOString(), histories: histories(), publicKeys, bodiesDirectory: name }));
      await expect(readAuditFile(file)).rejects.toMatchObject({ code: ErrorCode.InvalidInput, message: expect.stringContaining('which is not a plain name beside the bundle') });
    }
    // A digest is never made into a path unless it is one.
    expect(await directoryBodies(file, 'x').read('../../outside')).toBeUndefined();
  });
});
