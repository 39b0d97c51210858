/**
 * The data scientist's side: start a secure sum and open its sealed result with the
 * researcher's own key. Only this side ever sees the total.
 */
import { randomUUID } from 'node:crypto';
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { OrgId } from '../common/ids.ts';
import { COORDINATOR_TASK_QUEUE, RUN_EXECUTION_TIMEOUT, WorkflowName } from '../common/workflow-names.ts';
import { ErrorCode, ParleyError } from '../common/errors.ts';
import { createMemoryReplayGuard, openEnvelope, signRunManifest, type OrgKeys } from '../crypto/index.ts';
import { DEFAULT_MANIFEST_LIFETIME_MS, MANIFEST_VERSION, type RunManifest, type SignedManifest } from '../common/run-manifest.ts';
import type { KeyDirectory } from '../activities/key-directory.ts';
import type { SecureSumInput, SecureSumResult } from '../workflows/index.ts';
import type { ChainOutput, ChainResult, ChainRunInput, ChainSpec, SecureSumProtocol } from '../common/chain.ts';
import type { ApiClient, RunView } from '../activities/api-client.ts';

/** A public modulus comfortably above any count: 2^64. */
export const DEFAULT_MODULUS = (1n << 64n).toString();

/** Starts `workflow` on the coordinator with `input`; the workflow id is the run id. */
function startRun(client: Client, workflow: WorkflowName, workflowId: string, input: unknown): Promise<WorkflowHandle> {
  return client.workflow.start(workflow, {
    taskQueue: COORDINATOR_TASK_QUEUE,
    workflowId,
    args: [input],
    workflowExecutionTimeout: RUN_EXECUTION_TIMEOUT,
  });
}

/**
 * Who signs a run and for which collaboration: the requester organisation's keys (only its
 * private signing key is used) and the collaboration id the sites admit runs under.
 */
export interface RunSigner {
  keys: OrgKeys;
  collaboration: string;
  /** How long the signed manifest may be run for; a day by default. */
  lifetimeMs?: number;
}

/**
 * Signs the manifest of run `runId` (common/run-manifest.ts) with the requester's key: every
 * site checks each step against it, so what is signed here is all a run can do.
 */
export async function signRun(signer: RunSigner, runId: string, run: Pick<RunManifest, 'requester' | 'participants' | 'plan'>, now = new Date()): Promise<SignedManifest> {
  if (run.requester !== signer.keys.org) {
    throw new ParleyError(ErrorCode.InvalidInput, `The run's requester is "${run.requester}", but the keys given to sign it are "${signer.keys.org}"'s. Sign with the requester's own key file.`, { runId });
  }
  const manifest: RunManifest = {
    v: MANIFEST_VERSION, runId, collaboration: signer.collaboration, requester: run.requester, participants: run.participants,
    plan: run.plan, createdAt: now.toISOString(), expiresAt: new Date(now.getTime() + (signer.lifetimeMs ?? DEFAULT_MANIFEST_LIFETIME_MS)).toISOString(),
  };
  return signRunManifest(manifest, signer.keys.sign.privateJwk);
}

/** A secure sum's input before it is signed. */
export type UnsignedSecureSumInput = Omit<SecureSumInput, 'manifest'>;

/** The secure-sum workflow input for `runId`, with its manifest signed by `signer`. */
export async function signedSecureSumInput(signer: RunSigner, runId: string, input: UnsignedSecureSumInput, protocol: SecureSumProtocol = 'ring'): Promise<SecureSumInput> {
  const { participants, requester, dataset, modulus, image, stepTimeoutMs } = input;
  const plan = { kind: 'secure-sum' as const, protocol, dataset, modulus, image: { name: image.name, digest: image.digest }, ...(stepTimeoutMs !== undefined ? { stepTimeoutMs } : {}) };
  return { ...input, manifest: await signRun(signer, runId, { requester, participants, plan }) };
}

/** A chain run's input before it is signed. */
export type UnsignedChainRunInput = Omit<ChainRunInput, 'manifest'>;

/** The chain workflow input for `runId`, with its manifest signed by `signer`. */
export async function signedChainInput(signer: RunSigner, runId: string, input: UnsignedChainRunInput): Promise<ChainRunInput> {
  const { chain, participants, requester, stepTimeoutMs } = input;
  const plan = { kind: 'chain' as const, chain, ...(stepTimeoutMs !== undefined ? { stepTimeoutMs } : {}) };
  return { ...input, manifest: await signRun(signer, runId, { requester, participants, plan }) };
}

/** Starts the ring secure sum, signed by `signer`; the workflow id is the run id. */
export async function startSecureSum(client: Client, input: UnsignedSecureSumInput & { signer: RunSigner }, workflowId = `secure-sum-${randomUUID()}`): Promise<WorkflowHandle> {
  const { signer, ...unsigned } = input;
  return startRun(client, WorkflowName.SecureSumRing, workflowId, await signedSecureSumInput(signer, workflowId, unsigned, 'ring'));
}

/** Starts the secure sum by additive shares (same input and result as the ring), signed by `signer`. */
export async function startSecureSumAdditive(client: Client, input: UnsignedSecureSumInput & { signer: RunSigner }, workflowId = `secure-sum-additive-${randomUUID()}`): Promise<WorkflowHandle> {
  const { signer, ...unsigned } = input;
  return startRun(client, WorkflowName.SecureSumAdditive, workflowId, await signedSecureSumInput(signer, workflowId, unsigned, 'additive'));
}

/**
 * Opens the sealed total with the requester's private key, checking that the initiator sealed
 * it at the run's final step. Throws the envelope's ParleyError when it does not open.
 */
export async function openSecureSumResult(
  result: SecureSumResult,
  requester: { org: OrgId; keys: OrgKeys },
  directory: KeyDirectory,
  initiator: OrgId,
): Promise<bigint> {
  const { binding, body } = await openEnvelope(result.result, {
    expect: { runId: result.runId, step: result.resultStep, recipient: requester.org },
    receiveKey: requester.keys.receive.privateJwk,
    senderSigningKey: async (org) => (await directory.publicKeys(org))?.sign.jwk,
    replayGuard: createMemoryReplayGuard(),
  });
  if (binding.from !== initiator) {
    throw new ParleyError(ErrorCode.EnvelopeBinding, `The result was sealed by "${binding.from}", not by the initiator "${initiator}".`, { runId: result.runId });
  }
  const parsed = JSON.parse(new TextDecoder().decode(body)) as { total?: unknown };
  if (typeof parsed.total !== 'string' || !/^[0-9]+$/.test(parsed.total)) {
    throw new ParleyError(ErrorCode.StepProtocol, 'The result envelope opened but does not hold a total.', { runId: result.runId });
  }
  return BigInt(parsed.total);
}

/** Starts a chain straight on Temporal (the API does the same after its checks). */
export async function startChain(client: Client, input: UnsignedChainRunInput & { signer: RunSigner }, workflowId = `chain-${randomUUID()}`): Promise<WorkflowHandle> {
  const { signer, ...unsigned } = input;
  return startRun(client, WorkflowName.Chain, workflowId, await signedChainInput(signer, workflowId, unsigned));
}

/** One output of a chain, opened: the JSON its step wrote with `output()`. */
export interface OpenedChainOutput {
  step: string;
  boundStep: string;
  org: OrgId;
  content: unknown;
}

/**
 * Opens every output of a chain run with the requester's private key. Each must be sealed by the
 * site the run says produced it, at the step it says, for the requester: anything else is refused
 * with the envelope's ParleyError, and nothing is returned.
 */
export async function openChainOutputs(
  result: Pick<ChainResult, 'runId' | 'outputs'>,
  requester: { org: OrgId; keys: OrgKeys },
  directory: KeyDirectory,
): Promise<OpenedChainOutput[]> {
  // One guard for the whole result: the same envelope twice is a replay.
  const replayGuard = createMemoryReplayGuard();
  const opened: OpenedChainOutput[] = [];
  for (const output of result.outputs) opened.push(await openChainOutput(result.runId, output, requester, directory, replayGuard));
  return opened;
}

async function openChainOutput(
  runId: string,
  output: ChainOutput,
  requester: { org: OrgId; keys: OrgKeys },
  directory: KeyDirectory,
  replayGuard: ReturnType<typeof createMemoryReplayGuard>,
): Promise<OpenedChainOutput> {
  const { binding, body } = await openEnvelope(output.envelope, {
    expect: { runId, step: output.boundStep, recipient: requester.org },
    receiveKey: requester.keys.receive.privateJwk,
    senderSigningKey: async (org) => (await directory.publicKeys(org))?.sign.jwk,
    replayGuard,
  });
  if (binding.from !== output.org) {
    throw new ParleyError(ErrorCode.EnvelopeBinding, `An output of step "${output.step}" was sealed by "${binding.from}", not by "${output.org}" as the run says.`, { runId });
  }
  let content: unknown;
  try {
    content = JSON.parse(new TextDecoder().decode(body));
  } catch {
    throw new ParleyError(ErrorCode.StepProtocol, `The output of step "${output.step}" at "${output.org}" opened but is not JSON.`, { runId });
  }
  return { step: output.step, boundStep: output.boundStep, org: output.org, content };
}

/**
 * Starts a chain through the Parley API, signed by `signer`: the participants are the ones given,
 * else the API's (every live site but the requester's), signed into the manifest with a fresh run id.
 */
export async function startChainThroughApi(api: ApiClient, signer: RunSigner, request: { chain: ChainSpec; participants?: OrgId[]; stepTimeoutMs?: number; siteDownToleranceMs?: number }): Promise<RunView> {
  const participants = request.participants ?? (await api.runParticipants({ collaborationId: signer.collaboration, chain: request.chain })).participants;
  const runId = `run-${randomUUID()}`;
  const plan = { kind: 'chain' as const, chain: request.chain, ...(request.stepTimeoutMs !== undefined ? { stepTimeoutMs: request.stepTimeoutMs } : {}) };
  const manifest = await signRun(signer, runId, { requester: signer.keys.org, participants, plan });
  return api.startChainRun({ collaborationId: signer.collaboration, chain: request.chain, participants, manifest, ...(request.siteDownToleranceMs !== undefined ? { siteDownToleranceMs: request.siteDownToleranceMs } : {}) });
}

/** Starts a ring secure sum through the Parley API, signed by `signer` (participants as for startChainThroughApi). */
export async function startSecureSumThroughApi(api: ApiClient, signer: RunSigner, request: { participants?: OrgId[]; modulus: string; dataset: string; image: { name: string; digest: string } }): Promise<RunView> {
  const participants = request.participants ?? (await api.runParticipants({ collaborationId: signer.collaboration })).participants;
  const runId = `run-${randomUUID()}`;
  const image = { name: request.image.name, digest: request.image.digest };
  const plan = { kind: 'secure-sum' as const, protocol: 'ring' as const, dataset: request.dataset, modulus: request.modulus, image };
  const manifest = await signRun(signer, runId, { requester: signer.keys.org, participants, plan });
  return api.startRun({ collaborationId: signer.collaboration, participants, modulus: request.modulus, dataset: request.dataset, image, manifest });
}
