/**
 * Histories from before bodies were detached: a step's outcome carried `{ kind: 'blob', digest,
 * size, binding }` for an envelope too large for the history, and the blob was the whole
 * envelope's canonical JSON. No worker makes them any more; an audit still verifies and opens them.
 */
import { createHash } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import type { EnvelopeRef } from '../common/envelope.ts';
import { ErrorCode } from '../common/errors.ts';
import { canonicalJson, generateOrgKeys, publicKeysOf, sealEnvelope, type OrgKeys, type OrgPublicKeys } from '../crypto/index.ts';
import type { HistoryJson } from './audit-bundle.ts';
import { openForOrg } from './open-for-org.ts';
import { jsonPayload } from './proto-payloads.ts';
import { verifyHistories } from './verify-bundle.ts';

const RUN = 'run-old-blobs-1';
let north: OrgKeys;
let south: OrgKeys;
let publicKeys: Record<string, OrgPublicKeys>;
let ref: EnvelopeRef;
let blobText: string;

beforeAll(async () => {
  [north, south] = await Promise.all([generateOrgKeys('old-north'), generateOrgKeys('old-south')]);
  publicKeys = Object.fromEntries([north, south].map((k) => [k.org, publicKeysOf(k)]));
  const envelope = await sealEnvelope({
    binding: { runId: RUN, step: 'send', from: north.org, to: [south.org], seq: 0 },
    body: new TextEncoder().encode(JSON.stringify({ text: 'x'.repeat(300_000) })),
    sender: north,
    recipients: [{ org: south.org, receiveJwk: publicKeysOf(south).receive.jwk }],
  });
  // As north's worker stored it then: the envelope's canonical JSON, named by its SHA-256.
  blobText = canonicalJson(envelope);
  const bytes = Buffer.from(blobText, 'utf8');
  ref = { kind: 'blob', digest: createHash('sha256').update(bytes).digest('base64url'), size: bytes.length, binding: envelope.binding };
});

/** A history of one step at north that returned `refs` as its envelopes, as the chain workflow recorded it. */
function historyOf(refs: EnvelopeRef[]): HistoryJson {
  const request = { runId: RUN, step: 'send', org: north.org, requester: south.org, image: { name: 'x', digest: 'sha256:00' }, inputs: [], seqStart: 0 };
  return {
    events: [
      { eventId: '1', eventType: 'EVENT_TYPE_WORKFLOW_EXECUTION_STARTED', workflowExecutionStartedEventAttributes: { workflowType: { name: 'test' } } },
      { eventId: '2', eventType: 'EVENT_TYPE_ACTIVITY_TASK_SCHEDULED', activityTaskScheduledEventAttributes: { activityType: { name: 'runStep' }, taskQueue: { name: `site.${north.org}` }, input: { payloads: [jsonPayload(request)] } } },
      { eventId: '3', eventType: 'EVENT_TYPE_ACTIVITY_TASK_STARTED', activityTaskStartedEventAttributes: { scheduledEventId: '2' } },
      { eventId: '4', eventType: 'EVENT_TYPE_ACTIVITY_TASK_COMPLETED', activityTaskCompletedEventAttributes: { scheduledEventId: '2', result: { payloads: [jsonPayload({ step: 'send', org: north.org, envelopes: refs })] } } },
      { eventId: '5', eventType: 'EVENT_TYPE_WORKFLOW_EXECUTION_FAILED', workflowExecutionFailedEventAttributes: {} },
    ],
  };
}
const histories = () => [{ workflowId: RUN, history: historyOf([ref]) }];
// The hand-made step has findings of its own (no attestation); these are the blob's.
const blobFindings = async (blobs: Record<string, string>) =>
  (await verifyHistories(histories(), publicKeys, { blobs })).findings.filter((f) => f.kind === 'signature' || f.kind === 'unverifiable').map((f) => `${f.kind}: ${f.message}`);

describe('an older history\'s blob references', () => {
  it('verify the blob as the envelope it stands for, with public keys only', async () => {
    expect(await blobFindings({ [ref.digest]: blobText })).toEqual([]);
  });

  it('report an altered or missing blob', async () => {
    expect(await blobFindings({ [ref.digest]: blobText.replace('"ciphertext":"', '"ciphertext":"A') })).toEqual([expect.stringContaining(`(a blob, ${ref.digest}) does not match its reference (blob-size)`)]);
    expect(await blobFindings({})).toEqual([expect.stringContaining(`(a blob, ${ref.digest}) is not in the bundle`)]);
  });

  it('open for their recipient, and are refused when the blob is not the one referenced', async () => {
    const opened = await openForOrg(histories(), south, publicKeys, { blobs: { [ref.digest]: blobText } });
    expect(opened.map((e) => [e.status, (e.content as { text?: string } | undefined)?.text?.length])).toEqual([['opened', 300_000]]);
    const refused = await openForOrg(histories(), south, publicKeys, { blobs: {} });
    expect(refused.map((e) => [e.status, e.problem])).toEqual([['refused', `${ErrorCode.EnvelopeTampered} (blob-missing)`]]);
  });
});
