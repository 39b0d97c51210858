/**
 * Verifies one workflow history with public keys only: every envelope it carries (signature,
 * binding to where the history has it, sequence numbers), each step's attestation, and the
 * event sequence itself. Never throws on what it finds: every problem becomes a finding.
 */
import type { JWK } from 'jose';
import type { EnvelopeInfo } from '../crypto/index.ts';
import { envelopeDigest, inspectEnvelope, verifyEnvelopeSignature, type OrgPublicKeys } from '../crypto/index.ts';
import type { BundlePayloads, HistoryJson } from './audit-bundle.ts';
import { envelopeOfBlobRef, looksLikeBlobRef } from './bundle-blobs.ts';
import { checkDetachedBody, NO_BODIES, type BodyProblem } from './detached-bodies.ts';
import { readHistorySteps, type StepRecord } from './history-steps.ts';
import { envelopesIn, envelopesInHistories } from './history-envelopes.ts';
import { isRecord } from './proto-payloads.ts';
import { checkAttestation } from './verify-attestation.ts';
import { FindingKind, type Finding, type TimelineStep, type VerifiedHistory } from './verify-findings.ts';
import { checkSequences } from './verify-sequence.ts';

export interface HistoryToVerify {
  workflowId: string;
  runId?: string;
  history: HistoryJson;
}

/** An envelope's verdict, once per distinct envelope (by digest). */
interface Checked {
  digest: string;
  info?: EnvelopeInfo;
  bytes: number;
  /** The sealed body's length, for a message whose body travels detached. */
  bodyBytes?: number;
}

interface Produced {
  checked: Checked;
  step: string;
  org: string;
  closedEventId: number;
  requester?: string;
}

/** The step request members verify relies on, or undefined when they are not there. */
interface Request {
  runId: string;
  step: string;
  org: string;
  requester: string;
  image: { name: string; digest: string };
  inputs: Array<{ envelope: unknown; fromStep: string; from: string }>;
  seqStart: number;
}

function readRequest(value: unknown): Request | undefined {
  if (!isRecord(value)) return undefined;
  const { runId, step, org, requester, image, inputs, seqStart } = value;
  if (typeof runId !== 'string' || typeof step !== 'string' || typeof org !== 'string' || typeof requester !== 'string') return undefined;
  if (!isRecord(image) || typeof image.name !== 'string' || typeof image.digest !== 'string') return undefined;
  if (!Array.isArray(inputs) || !inputs.every((i) => isRecord(i) && typeof i.fromStep === 'string' && typeof i.from === 'string')) return undefined;
  if (typeof seqStart !== 'number') return undefined;
  return value as unknown as Request;
}

const msBetween = (from?: string, to?: string) => (from && to ? Math.round(Date.parse(to) - Date.parse(from)) : undefined);

/**
 * Verifies one history against the organisations' published keys; a blob reference (older runs)
 * is checked against its blob in `payloads.blobs` (./bundle-blobs.ts), then as the envelope it
 * stands for; a detached body against its envelope's clear reference (./detached-bodies.ts).
 */
export async function verifyHistory(source: HistoryToVerify, publicKeys: Readonly<Record<string, OrgPublicKeys>>, payloads: BundlePayloads = {}): Promise<{ verified: VerifiedHistory; findings: Finding[] }> {
  const blobs = payloads.blobs ?? {};
  const bodies = payloads.bodies ?? NO_BODIES;
  const { workflowId } = source;
  const parsed = readHistorySteps(source.history);
  const findings: Finding[] = parsed.problems.map((p) => ({ kind: FindingKind.MissingEvent, workflowId, ...(p.eventId ? { eventId: p.eventId } : {}), message: p.message }));
  const add = (kind: FindingKind, message: string, at: { eventId?: number; step?: string; org?: string } = {}) => findings.push({ kind, workflowId, ...at, message });
  const keyOf = (org: string): JWK | undefined => publicKeys[org]?.sign.jwk;

  // Each distinct envelope is checked once, where it is first seen; later sightings reuse it.
  const cache = new Map<string, Promise<Checked>>();
  const check = (seen: unknown, eventId?: number): Promise<Checked> => {
    let value = seen;
    if (looksLikeBlobRef(seen)) {
      const resolved = envelopeOfBlobRef(seen, blobs);
      if ('problem' in resolved) return checkMissingBlob(seen, resolved.problem, eventId);
      value = resolved.envelope;
    }
    let digest: string;
    try {
      digest = envelopeDigest(value as never);
    } catch {
      digest = `unreadable:${JSON.stringify(value)}`;
    }
    let found = cache.get(digest);
    if (!found) {
      found = checkEnvelope(value, digest, eventId);
      cache.set(digest, found);
    }
    return found;
  };
  // A blob that is missing or not what its reference names: reported once, by the reference's digest.
  const checkMissingBlob = (ref: { digest: string; size: number; binding: { seq?: unknown; from?: unknown; step?: unknown } }, problem: string, eventId?: number): Promise<Checked> => {
    const key = `blob:${ref.digest}`;
    let found = cache.get(key);
    if (!found) {
      const at = { eventId, step: String(ref.binding.step), org: String(ref.binding.from) };
      const what = `envelope seq ${String(ref.binding.seq)} from "${String(ref.binding.from)}" (a blob, ${ref.digest})`;
      if (problem === 'blob-missing') add(FindingKind.Unverifiable, `${what} is not in the bundle; export it with --api to include its blobs`, at);
      else add(FindingKind.Signature, `${what} does not match its reference (${problem}): the blob store altered or swapped it`, at);
      found = Promise.resolve({ digest: ref.digest, bytes: ref.size });
      cache.set(key, found);
    }
    return found;
  };
  const checkEnvelope = async (value: unknown, digest: string, eventId?: number): Promise<Checked> => {
    const bytes = JSON.stringify(value)?.length ?? 0;
    let info: EnvelopeInfo;
    try {
      info = inspectEnvelope(value);
    } catch (err) {
      add(FindingKind.Signature, `an envelope is malformed or altered (${String((err as { details?: { field?: string; reason?: string } }).details?.field ?? (err as { details?: { reason?: string } }).details?.reason ?? 'unreadable')})`, { eventId });
      return { digest, bytes };
    }
    const b = info.binding;
    const at = { eventId, step: b.step, org: b.from };
    const key = keyOf(b.from);
    if (key === undefined) {
      add(FindingKind.Unverifiable, `the bundle has no public key for "${b.from}", so its envelope seq ${b.seq} cannot be checked`, at);
    } else {
      try {
        await verifyEnvelopeSignature(value, key);
      } catch (err) {
        const reason = String((err as { details?: { reason?: string } }).details?.reason ?? 'refused');
        add(FindingKind.Signature, `envelope seq ${b.seq} from "${b.from}" does not verify against "${b.from}"'s published key (${reason})`, at);
      }
    }
    if (b.runId !== workflowId) add(FindingKind.Binding, `envelope seq ${b.seq} from "${b.from}" is bound to run "${b.runId}", not this run`, at);
    if (!info.detached) return { digest, info, bytes };
    // The body named in the clear, under the outer signature just checked: its length and
    // SHA-256 are public, so a swapped or cut body shows without any key.
    const problem = await checkBody(info.detached);
    const what = `the sealed body of envelope seq ${b.seq} from "${b.from}" (${info.detached.digest}, ${info.detached.size} bytes)`;
    if (problem === 'body-missing') add(FindingKind.Unverifiable, `${what} is not in ${bodies.where}: copy the bundle's bodies directory beside it, or export the bundle again with --api before the run's retention removes the body`, at);
    else if (problem !== undefined) add(FindingKind.Body, `${what} is not the one its sender signed (${problem === 'body-size' ? 'its length differs' : 'its SHA-256 differs'}): the blob store or the bundle's copy was altered or swapped`, at);
    return { digest, info, bytes, bodyBytes: info.detached.size };
  };
  // Each body is read once, however many envelopes name it.
  const bodyChecks = new Map<string, Promise<BodyProblem | undefined>>();
  const checkBody = (ref: { digest: string; size: number }): Promise<BodyProblem | undefined> => {
    const key = `${ref.digest}|${ref.size}`;
    let found = bodyChecks.get(key);
    if (!found) {
      found = checkDetachedBody(ref, bodies).then((r) => (r.ok ? undefined : r.problem));
      bodyChecks.set(key, found);
    }
    return found;
  };

  const produced = new Map<string, Produced>();
  const consumed: Array<{ checked: Checked; by: string; atStep: string; eventId: number; fromStep: string; from: string }> = [];
  const timeline: TimelineStep[] = [];
  let attestations = 0;

  for (const record of parsed.steps) {
    const request = readRequest(record.request);
    const eventId = record.scheduledEventId;
    if (!request) {
      add(FindingKind.Unverifiable, 'a step request is unreadable', { eventId });
      continue;
    }
    const at = { eventId, step: request.step, org: request.org };
    if (request.runId !== workflowId) add(FindingKind.Binding, `the step is scheduled for run "${request.runId}" in the history of "${workflowId}"`, at);
    if (record.taskQueue !== `site.${request.org}`) add(FindingKind.Binding, `the step for "${request.org}" was routed to task queue "${record.taskQueue}"`, at);

    const entry: TimelineStep = {
      eventId, step: request.step, org: request.org, image: { ...request.image }, status: record.status ?? 'open',
      atMs: msBetween(parsed.startedAt, record.scheduledAt), durationMs: msBetween(record.scheduledAt, record.closedAt), received: [], sent: [],
    };
    timeline.push(entry);
    for (const input of request.inputs) {
      const checked = await check(input.envelope, eventId);
      consumed.push({ checked, by: request.org, atStep: request.step, eventId, fromStep: input.fromStep, from: input.from });
      entry.received.push({ from: input.from, seq: checked.info?.binding.seq ?? -1, step: input.fromStep });
    }
    if (record.status === 'completed') {
      attestations += 1;
      await checkOutcome(record, request, entry);
    }
  }

  async function checkOutcome(record: StepRecord, request: Request, entry: TimelineStep): Promise<void> {
    const closedEventId = record.closedEventId!;
    const at = { eventId: closedEventId, step: request.step, org: request.org };
    const outcome = record.outcome;
    if (!isRecord(outcome) || !Array.isArray(outcome.envelopes)) {
      add(FindingKind.Unverifiable, 'the step\'s outcome is unreadable', at);
      return;
    }
    if (outcome.step !== request.step || outcome.org !== request.org) add(FindingKind.Binding, `the outcome names step "${String(outcome.step)}" at "${String(outcome.org)}", not the step it completes`, at);
    const sealed = [...outcome.envelopes.map((e) => ({ e, output: false })), ...(outcome.output !== undefined ? [{ e: outcome.output, output: true }] : [])];
    const returned: string[] = [];
    for (const [j, { e, output }] of sealed.entries()) {
      const checked = await check(e, closedEventId);
      returned.push(checked.digest);
      const b = checked.info?.binding;
      if (!b) continue;
      entry.sent.push({ seq: b.seq, from: b.from, to: b.to, bytes: checked.bytes, ...(checked.bodyBytes !== undefined ? { bodyBytes: checked.bodyBytes } : {}), output });
      if (b.step !== request.step || b.from !== request.org) {
        add(FindingKind.Binding, `envelope seq ${b.seq} returned by step "${request.step}" at "${request.org}" is bound to step "${b.step}" from "${b.from}"`, at);
      }
      if (b.seq !== request.seqStart + j) add(FindingKind.Sequence, `envelope ${j + 1} of the step has seq ${b.seq}; the step was given seq ${request.seqStart} onwards`, at);
      if (output && !b.to.includes(request.requester)) add(FindingKind.Binding, `the step's output is sealed for ${b.to.join(', ')}, not for the requester "${request.requester}"`, at);
      if (produced.has(checked.digest)) add(FindingKind.Sequence, `envelope seq ${b.seq} from "${b.from}" is returned a second time`, at);
      else produced.set(checked.digest, { checked, step: request.step, org: request.org, closedEventId, requester: request.requester });
    }
    const attested = await checkAttestation(outcome.attestation, { workflowId, eventId: closedEventId, runId: workflowId, step: request.step, org: request.org, image: request.image, returned }, keyOf(request.org));
    findings.push(...attested.findings);
    if (attested.ran !== undefined) entry.image.ran = attested.ran;
  }

  // Where each envelope is consumed must be among its recipients, after it was produced, by a step of this run.
  const delivered = new Set<string>();
  for (const use of consumed) {
    const at = { eventId: use.eventId, step: use.atStep, org: use.by };
    const b = use.checked.info?.binding;
    const source = produced.get(use.checked.digest);
    if (!source) add(FindingKind.Provenance, `step "${use.atStep}" at "${use.by}" consumed an envelope${b ? ` (seq ${b.seq} from "${b.from}")` : ''} that no step of this run returned`, at);
    else if (source.closedEventId > use.eventId) add(FindingKind.Provenance, `step "${use.atStep}" at "${use.by}" consumed an envelope before step "${source.step}" returned it`, at);
    if (!b) continue;
    delivered.add(`${use.checked.digest}|${use.by}`);
    if (!b.to.includes(use.by)) add(FindingKind.Binding, `envelope seq ${b.seq} from "${b.from}" is sealed for ${b.to.join(', ')} but consumed by "${use.by}"`, at);
    if (b.from !== use.from || b.step !== use.fromStep) add(FindingKind.Binding, `the run says this input came from "${use.from}" at step "${use.fromStep}"; the envelope is bound to "${b.from}" at step "${b.step}"`, at);
  }

  // The workflow's result hands envelopes to the requester.
  const requester = isRecord(parsed.input) && typeof parsed.input.requester === 'string' ? parsed.input.requester : undefined;
  for (const value of envelopesIn(parsed.result)) {
    const checked = await check(value);
    const b = checked.info?.binding;
    if (!produced.has(checked.digest)) add(FindingKind.Provenance, `the workflow's result holds an envelope${b ? ` (seq ${b.seq} from "${b.from}")` : ''} that no step of this run returned`);
    if (!b || requester === undefined) continue;
    delivered.add(`${checked.digest}|${requester}`);
    if (!b.to.includes(requester)) add(FindingKind.Binding, `the result envelope is sealed for ${b.to.join(', ')}, not for the requester "${requester}"`);
  }
  if (parsed.closedAs === 'WorkflowExecutionCompleted') {
    for (const [digest, p] of produced) {
      for (const org of p.checked.info?.binding.to ?? []) {
        if (!delivered.has(`${digest}|${org}`)) add(FindingKind.Delivery, `envelope seq ${p.checked.info!.binding.seq} from "${p.org}" at step "${p.step}" never reached "${org}"`, { eventId: p.closedEventId, step: p.step, org: p.org });
      }
    }
  }
  findings.push(...checkSequences(workflowId, [...produced.values()].map((p) => ({ binding: p.checked.info!.binding, eventId: p.closedEventId }))));

  // Anything else envelope-shaped in the history (workflow input, other activities) is checked too.
  for (const value of envelopesInHistories([source.history])) await check(value);

  const verified: VerifiedHistory = {
    workflowId, ...(source.runId ? { runId: source.runId } : {}), ...(parsed.workflowType ? { workflowType: parsed.workflowType } : {}),
    events: parsed.events, ...(parsed.startedAt ? { startedAt: parsed.startedAt } : {}), ...(parsed.closedAt ? { closedAt: parsed.closedAt } : {}),
    ...(parsed.closedAs ? { closedAs: parsed.closedAs } : {}), timeline, envelopes: cache.size, attestations,
  };
  return { verified, findings };
}
