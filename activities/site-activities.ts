/**
 * What a site does for a run: open the step's inputs, run the allowed image in the sandbox,
 * seal what the algorithm sent, and clean up. The keys stay in this process; the container
 * sees only opened inputs, its datasets and its run volume.
 */
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type Docker from 'dockerode';
import type { Envelope, SealedMessage } from '../common/envelope.ts';
import { ErrorCode, ParleyError } from '../common/errors.ts';
import type { OrgId } from '../common/ids.ts';
import { canonicalJson, envelopeDigest, openEnvelope, sealEnvelope, type OrgKeys, type SealedBlobBody, type SealInput } from '../crypto/index.ts';
import { resolveAllowedImage } from './allow-list.ts';
import { attestStep } from './attest-step.ts';
import { checkStep, type PrivacyBill, type PrivacyRelease, type StepPermit } from './check-step.ts';
import { openPrivacyBudget, privacyBudgetDir, type PrivacyBudget } from './privacy-budget.ts';
import type { AllowedImage, SitePolicy } from './site-policy.ts';
import type { KeyDirectory } from './key-directory.ts';
import type { ReplayBatch, RunLedger } from './run-ledger.ts';
import { startNodeSocket, type NodeSocketOptions } from './sandbox/node-socket.ts';
import { containerConfig, createSandbox, DEFAULT_MIN_ROWS, runSandboxed, type ContainerLimits, type SandboxSpec } from './sandbox/run-container.ts';
import { ensureRunVolume, removeRunVolumes } from './sandbox/run-volume.ts';
import { controlRelease } from './disclosure-control.ts';
import { openReleaseLedger, releaseLedgerDir, type ReleaseLedger } from './release-ledger.ts';
import { socketContractError, stepFailedError, stepOutOfMemoryError } from './step-failure.ts';
import { StepClock } from './step-clock.ts';
import { VerifiedManifests } from './verified-manifests.ts';
import { makeStepWorkspace, stepWorkspaceRoot, writeStepInputs, type OpenedInput, type StepWorkspace } from './step-workspace.ts';
import { discardPrepared, PreparedSteps, type PreparedStep } from './prepared-steps.ts';
import { DEFAULT_BLOB_THRESHOLD_BYTES, envelopeOf, sealMessage, writeDetachedBody } from './blob-messages.ts';
import type { BlobStore } from './blob-store.ts';
import { DEFAULT_STEP_SEND_LIMITS, stepLimitError, type StepSendLimits } from './step-limits.ts';
import type { RunCleanup, SiteActivities, StepOutcome, StepPreparation, StepRequest } from './types.ts';

export interface SiteDeps {
  org: OrgId;
  keys: OrgKeys;
  docker: Docker;
  directory: KeyDirectory;
  /** Dataset name → host path (file or directory), mounted read-only at /data/<name>. */
  datasets: Readonly<Record<string, string>>;
  /** The operator's allow-list: each image by name and digest, with the role it may play. */
  allowedImages: readonly AllowedImage[];
  /** The operator's policy: collaborations, requesters, datasets, secure-sum thresholds. */
  policy: SitePolicy;
  /** The site's private state: step workspaces and the run ledger. */
  stateDir: string;
  ledger: RunLedger;
  limits?: Partial<ContainerLimits>;
  /** The fewest rows a released aggregate may rest on (default 10); containers get it as PARLEY_MIN_ROWS. */
  disclosureThreshold?: number;
  /** Where sealed envelopes above `blobThresholdBytes` go (the API's, by default); without one, all stay inline. */
  blobs?: BlobStore;
  /** Envelopes larger than this (serialised) travel as blobs. Default 256 KiB. */
  blobThresholdBytes?: number;
  /** What one step may send (site.yaml limits.stepSendBytes, limits.stepMessages). Default 1 GiB and 10,000. */
  stepLimits?: Partial<StepSendLimits>;
  /**
   * The worker's steps prepared ahead (./prepared-steps.ts), when the process that runs the
   * worker discards them as it stops (workers/site/process.ts); a set of its own otherwise.
   */
  prepared?: PreparedSteps;
  /** Told each moment of a step on its critical path (bench/ring-timeline.ts); ids only, never data. */
  trace?: StepTrace;
}

/** The moments a step's trace marks, in order; `prepared` is its preparation's end. */
export type StepMark = 'enter' | 'checked' | 'inputs' | 'start' | 'started' | 'exited' | 'sealed' | 'return' | 'prepared';
export type StepTrace = (mark: StepMark, at: { runId: string; step: string; org: OrgId }) => void;

/** How often a running step tells Temporal it is alive (the workflow allows 5 s of silence). */
const HEARTBEAT_MS = 1000;

/**
 * Largest output an algorithm may write through the node socket: an output stays inline in the
 * history (activities/types.ts StepOutcome.output). Messages may be as large as the step's limit.
 */
const MAX_OUTPUT_BYTES = 1 << 20;

/** Builds the site's activities over its injected dependencies. */
export function createSiteActivities(deps: SiteDeps): SiteActivities {
  // Disclosure control (issue 12): the site's durable ledger of the cohorts it has released.
  // Differential privacy (issue 13): the site's durable ledger of what each dataset's budget has spent.
  const memo: SiteMemo = {
    imageIds: new Map(), volumes: new Map(), releases: openReleaseLedger(releaseLedgerDir(deps.stateDir)),
    budget: openPrivacyBudget(privacyBudgetDir(deps.stateDir), deps.policy.privacy.budgets),
    prepared: deps.prepared ?? new PreparedSteps(), manifests: new VerifiedManifests(),
  };
  return {
    async runStep(request) {
      // Heartbeats from the first moment, not only once the container runs: on a busy engine,
      // resolving the image, creating the volume and opening inputs can outlast the workflow's
      // heartbeat timeout, and Temporal would then retry a step whose first attempt is still
      // running. (The SDK throttles heartbeats, so the container's own add nothing.)
      const context = Context.current();
      context.heartbeat();
      const beat = setInterval(() => context.heartbeat(), HEARTBEAT_MS);
      try {
        return await runStep(deps, memo, request);
      } catch (err) {
        throw asActivityFailure(err);
      } finally {
        clearInterval(beat);
      }
    },
    async prepareStep(preparation) {
      try {
        await prepareStep(deps, memo, preparation);
      } catch (err) {
        throw asActivityFailure(err);
      }
    },
    async endRun(runId) {
      try {
        return await endRun(deps, memo, runId);
      } catch (err) {
        throw asActivityFailure(err);
      }
    },
  };
}

/**
 * What a worker remembers between steps to keep its own cost per step to milliseconds: image ids
 * already resolved (a digest names one content forever), run volumes already created and run
 * manifests already verified.
 */
interface SiteMemo {
  imageIds: Map<string, string>;
  volumes: Map<string, Promise<string>>;
  releases: ReleaseLedger;
  budget: PrivacyBudget;
  /** Steps prepared ahead of their turn, and container removals still under way. */
  prepared: PreparedSteps;
  /** Run manifests whose signature verified (keyed by the manifest's digest and the key). */
  manifests: VerifiedManifests;
}

async function runStep(deps: SiteDeps, memo: SiteMemo, request: StepRequest): Promise<StepOutcome> {
  const clock = new StepClock();
  const { runId } = request;
  deps.trace?.('enter', request);
  const permit = await checkHere(deps, memo, request);
  deps.trace?.('checked', request);
  if (permit.privacy) await chargePrivacy(memo.budget, request, permit.privacy);
  clock.lap('check');
  const imageId = await imageIdOf(deps, memo, request);
  const datasets = datasetsOf(deps, request);
  // The volume is created while the inputs are opened: independent, and both on the critical path.
  const volume = volumeOf(deps, memo, runId);
  const prepared = await takePrepared(deps, memo, request, permit, { imageId, datasets, volume });
  // Opened and written to the step's workspace one at a time (a large input is a blob fetched
  // and checked first): the worker holds one opened input at a time. Each is admitted to the
  // run's replay ledger as it is opened, all of them written with one fsync (run-ledger.ts).
  const replayGuard = deps.ledger.batch();
  let workspace: StepWorkspace;
  if (prepared) {
    workspace = prepared.workspace;
    clock.lap('prepare');
    await writeStepInputs(workspace, openInputs(deps, request, replayGuard)).catch(async (err: unknown) => {
      await discardPrepared(prepared);
      throw err;
    });
  } else {
    workspace = await makeStepWorkspace(stepWorkspaceRoot(deps.stateDir));
    clock.lap('prepare');
    await writeStepInputs(workspace, openInputs(deps, request, replayGuard)).catch(async (err: unknown) => {
      await workspace.dispose();
      throw err;
    });
  }
  // The admissions' fsync goes on while the container is created; it starts only once they are
  // durable (createAlongside), the first use of anything opened here.
  const admitted = replayGuard.commit();
  admitted.catch(() => undefined); // awaited by createAlongside; this only keeps an early failure handled
  clock.lap('open');
  const openMs = clock.since(clock.started);
  deps.trace?.('inputs', request);
  try {
    return await runInWorkspace(deps, memo, request, { permit, imageId, datasets, volume, workspace, admitted, clock, openMs, ...(prepared ? { prepared } : {}) });
  } finally {
    await workspace.dispose();
  }
}

/**
 * Prepares a step that is coming (issue 17): the same checks as the step itself, so preparing
 * creates nothing the signed manifest does not imply at this site, then the image id, the run
 * volume, an empty workspace, the node socket and the created container. Nothing is started,
 * no privacy is charged and no input exists yet: the step does both when it comes.
 */
async function prepareStep(deps: SiteDeps, memo: SiteMemo, request: StepPreparation): Promise<void> {
  const { runId, step } = request;
  const permit = await checkHere(deps, memo, request);
  await memo.prepared.prepare(runId, step, async (): Promise<PreparedStep> => {
    const imageId = await imageIdOf(deps, memo, request);
    const datasets = datasetsOf(deps, request);
    const volumeName = await volumeOf(deps, memo, runId);
    const workspace = await makeStepWorkspace(stepWorkspaceRoot(deps.stateDir));
    try {
      const spec = sandboxSpec(deps, request, { imageId, datasets, volumeName, workspace });
      const sockets = socketOptions(deps, request, permit, workspace);
      const socket = await startNodeSocket(sockets);
      try {
        const container = await createSandbox(deps.docker, spec);
        return { key: preparationKey(spec, sockets), workspace, socket, container };
      } catch (err) {
        await socket.close();
        throw err;
      }
    } catch (err) {
      await workspace.dispose();
      throw err;
    }
  });
  deps.trace?.('prepared', request);
  Context.current().log.info('step prepared', { runId, step, org: deps.org });
}

/**
 * The step's prepared container, when one was made and this request yields exactly the
 * container and socket it was made from; a prepared step that does not match is discarded.
 */
async function takePrepared(
  deps: SiteDeps, memo: SiteMemo, request: StepRequest, permit: StepPermit,
  on: { imageId: string; datasets: Record<string, string>; volume: Promise<string> },
): Promise<PreparedStep | undefined> {
  const prepared = await memo.prepared.take(request.runId, request.step);
  if (!prepared) return undefined;
  const spec = sandboxSpec(deps, request, { ...on, volumeName: await on.volume, workspace: prepared.workspace });
  if (preparationKey(spec, socketOptions(deps, request, permit, prepared.workspace)) === prepared.key) return prepared;
  Context.current().log.warn('prepared step does not match its request; preparing it again', { runId: request.runId, step: request.step, org: deps.org });
  await discardPrepared(prepared);
  return undefined;
}

/**
 * Before anything else, for a step and for its preparation alike: it is addressed to this site,
 * the requester signed this run, the site's policy admits it, and the step is one the signed
 * manifest implies here. Temporal's word is never enough.
 */
async function checkHere(deps: SiteDeps, memo: SiteMemo, request: StepRequest | StepPreparation): Promise<StepPermit> {
  const { runId, step, org } = request;
  if (org !== deps.org) {
    throw new ParleyError(ErrorCode.InvalidInput, `Step "${step}" is addressed to "${org}" but reached the worker of "${deps.org}". Check the task-queue routing.`, { runId, step, org });
  }
  return checkStep(request, {
    org, workflowId: Context.current().info.workflowExecution?.workflowId ?? '', policy: deps.policy, allowedImages: deps.allowedImages, directory: deps.directory,
    manifests: memo.manifests,
  });
}

/**
 * The allow-listed image's id. checkStep matched the image on the allow-list (name, digest and
 * role) every time, memo or not: the allow-list decides, not what ran before.
 */
async function imageIdOf(deps: SiteDeps, memo: SiteMemo, request: StepRequest | StepPreparation): Promise<string> {
  const { step, org } = request;
  const imageId = memo.imageIds.get(request.image.digest) ?? (await resolveAllowedImage(deps.docker, deps.allowedImages, request.image, { org, step }));
  memo.imageIds.set(request.image.digest, imageId);
  return imageId;
}

/** The host paths of the datasets the step reads; throws DatasetUnknown for one the site lacks. */
function datasetsOf(deps: SiteDeps, request: StepRequest | StepPreparation): Record<string, string> {
  const { runId, step, org } = request;
  const datasets: Record<string, string> = {};
  for (const name of request.datasets) {
    const path = deps.datasets[name];
    if (!path) {
      throw new ParleyError(ErrorCode.DatasetUnknown, `Step "${step}" asked for dataset "${name}", which site "${org}" does not have. Ask its operator to configure it, or fix the step.`, { runId, step, org, dataset: name });
    }
    datasets[name] = path;
  }
  return datasets;
}

/** The run's volume at this site, created once per run (concurrent callers share the creation). */
function volumeOf(deps: SiteDeps, memo: SiteMemo, runId: string): Promise<string> {
  let volume = memo.volumes.get(runId);
  if (!volume) {
    volume = ensureRunVolume(deps.docker, runId, deps.org);
    memo.volumes.set(runId, volume);
    volume.catch(() => memo.volumes.delete(runId));
  }
  return volume;
}

function sandboxSpec(
  deps: SiteDeps, request: StepRequest | StepPreparation,
  on: { imageId: string; datasets: Record<string, string>; volumeName: string; workspace: StepWorkspace },
): SandboxSpec {
  return {
    image: on.imageId,
    imageName: request.image.name,
    runId: request.runId, step: request.step, org: request.org,
    participants: request.participants,
    args: request.args,
    datasets: on.datasets,
    volumeName: on.volumeName,
    inputDir: on.workspace.inputDir,
    socketPath: on.workspace.socketPath,
    timeoutMs: request.timeoutMs,
    limits: deps.limits,
    ...(deps.disclosureThreshold !== undefined ? { minRows: deps.disclosureThreshold } : {}),
  };
}

/** The node socket's options: the container may address only the sites the manifest routes this step's messages to. */
function socketOptions(deps: SiteDeps, request: StepRequest | StepPreparation, permit: StepPermit, workspace: StepWorkspace): NodeSocketOptions {
  const limits = { ...DEFAULT_STEP_SEND_LIMITS, ...deps.stepLimits };
  return {
    socketPath: workspace.socketPath, allowedRecipients: permit.sendTo, datasets: request.datasets,
    maxBodyBytes: MAX_OUTPUT_BYTES, maxMessageBytes: limits.sendBytes, maxMessages: limits.messages, maxTotalBytes: limits.sendBytes,
    spillDir: workspace.outboxDir,
  };
}

/** What a prepared step was made from: the engine's create request and the socket's options. */
function preparationKey(spec: SandboxSpec, sockets: NodeSocketOptions): string {
  return canonicalJson({ container: containerConfig(spec), sockets });
}

interface Prepared {
  permit: StepPermit;
  imageId: string;
  datasets: Record<string, string>;
  volume: Promise<string>;
  workspace: StepWorkspace;
  /** The step's inputs admitted to the replay ledger, durably: the container starts only after. */
  admitted: Promise<void>;
  clock: StepClock;
  openMs: number;
  /** The step's container and socket, made ahead of the step. */
  prepared?: PreparedStep;
}

async function runInWorkspace(deps: SiteDeps, memo: SiteMemo, request: StepRequest, prepared: Prepared): Promise<StepOutcome> {
  const { runId, step, org } = request;
  const { permit, imageId, datasets, volume, workspace, admitted, clock, openMs } = prepared;
  const log = Context.current().log;
  const socket = prepared.prepared?.socket ?? (await startNodeSocket(socketOptions(deps, request, permit, workspace)));
  clock.lap('socket');
  const threshold = deps.disclosureThreshold ?? DEFAULT_MIN_ROWS;
  let containerMs = 0;
  try {
    const volumeName = await volume;
    clock.lap('volume');
    const spec = sandboxSpec(deps, request, { imageId, datasets, volumeName, workspace });
    const { container, createMs } = await createAlongside(deps.docker, spec, prepared.prepared?.container, admitted);
    clock.lap('create');
    log.info('step starting', { runId, step, org, image: request.image.name, digest: request.image.digest });
    deps.trace?.('start', request);
    const ran = await runSandboxed(deps.docker, spec, {
      signal: Context.current().cancellationSignal,
      created: container,
      ...(deps.trace ? { onStart: () => deps.trace?.('started', request) } : {}),
      // The exited container goes while the step seals and returns; the run's end waits for it.
      deferRemoval: (removal) => memo.prepared.deferRemoval(runId, removal),
    });
    // Create to removal, as when runSandboxed creates it (a prepared container's creation was ahead of the step).
    containerMs = createMs + ran.durationMs;
    deps.trace?.('exited', request);
    // The exit code, log lines and socket requests are the container's: step-failure.ts keeps
    // them off the failure's readable first line (the site seals the rest).
    // A limit first: the algorithm may have failed only because its send was refused.
    const exceeded = socket.limitExceeded();
    if (exceeded) throw stepLimitError({ runId, step, org }, exceeded);
    if (ran.exitCode !== 0 && ran.oomKilled) throw stepOutOfMemoryError({ runId, step, org }, ran.memoryBytes, ran.exitCode, ran.logTail);
    if (ran.exitCode !== 0) throw stepFailedError({ runId, step, org }, ran.exitCode, ran.logTail);
    const violations = socket.violations();
    if (violations.length > 0) throw socketContractError({ runId, step, org }, violations);
  } finally {
    clock.lap('container');
    await socket.close();
    clock.lap('close');
  }

  // Differencing control, before anything of this step is sealed: each cohort the step formed is
  // checked against the site's release ledger and recorded. Recorded when the cohort is formed,
  // not when its aggregate leaves: conservative (a cohort whose run later fails still counts as
  // released), and the only point where the site sees the rows, whatever step releases later.
  for (const cohort of socket.cohorts()) {
    await memo.releases.admit({ runId, step, org, dataset: cohort.dataset, rows: cohort.rows, threshold });
  }
  if (socket.output() !== undefined && !permit.mayOutput) {
    // Refused whole: nothing of this step is sealed, so nothing of it leaves the site.
    throw new ParleyError(ErrorCode.ReleaseRefused, `Step "${step}" at site "${org}" wrote an output for the requester, which the site's policy does not let leave: image ${request.image.name} is allowed as a ${permit.entry.role} image without release, so only secure-sum totals leave the site. Its operator can allow the release (\`parley site allow ${request.image.name} --release\`), or the chain can aggregate the step's values with a secure sum.`, { runId, step, org });
  }
  // Small-cell control: a released total below the threshold is refused, small histogram cells suppressed.
  const outputContent = controlRelease(socket.output(), { runId, step, org, threshold, modulus: request.args.modulus, noisy: permit.privacy?.releasesNoisy === true });
  clock.lap('control');

  const sealStarted = performance.now();
  let seq = request.seqStart;
  const envelopes: SealedMessage[] = [];
  const sealedDigests: string[] = [];
  const blobOptions = { store: deps.blobs, thresholdBytes: deps.blobThresholdBytes ?? DEFAULT_BLOB_THRESHOLD_BYTES };
  // One message at a time: sealed, stored as a blob when large (before the outcome names it),
  // and let go, so the worker never holds all of a step's sealed messages.
  for await (const message of socket.messagesAsJson()) {
    const messageSeq = seq++;
    const sealed = await sealMessage(message, (body) => sealFor(deps, request, [message.to], messageSeq, body), {
      ...blobOptions, runId, scratchFile: join(workspace.outboxDir, `${messageSeq}.blob`),
    });
    sealedDigests.push(sealed.digest);
    envelopes.push(sealed.message);
  }
  const output = outputContent === undefined ? undefined : await sealFor(deps, request, [request.requester], seq++, { body: new TextEncoder().encode(JSON.stringify(outputContent)) });
  if (output) sealedDigests.push(envelopeDigest(output));
  clock.lap('seal');
  // What ran and what was sealed, signed: the history then records it for auditors.
  const attestation = await attestStep(deps.keys, request, request.image, imageId, sealedDigests);
  clock.lap('attest');
  const sealMs = clock.since(sealStarted);
  deps.trace?.('sealed', request);
  if (request.releaseAtEnd) {
    await endRun(deps, memo, runId);
    clock.lap('end');
  }
  const totalMs = clock.since(clock.started);
  const { phases, cpuMs } = clock.report();
  log.info('step done', { runId, step, org, envelopes: envelopes.length + (output ? 1 : 0), containerMs: Math.round(containerMs), totalMs: Math.round(totalMs), cpuMs, ...phases });
  deps.trace?.('return', request);
  // Whole milliseconds: enough for reports, and no stray digits in the history.
  const timings = { openMs: Math.round(openMs), containerMs: Math.round(containerMs), sealMs: Math.round(sealMs), totalMs: Math.round(totalMs), phases, cpuMs };
  return { step, org, envelopes, ...(output ? { output } : {}), timings, attestation };
}

/**
 * The run's privacy cost, before any container starts. At the step where this site adds its noise
 * to a private release, the release is charged to every dataset the run reads here — durably, and
 * once per (run, release) however often the step is retried — so the noisy values never leave
 * the site uncharged. (Charged even if the step then fails: the site cannot tell whether an
 * attempt's noisy values got out, so it counts them as released.) At every other step that reads
 * data here, the run's releases are only checked, so a run the budget cannot pay for stops at
 * its first step, before anything is computed.
 * @throws ParleyError PrivacyBudget naming the dataset, what remains and what the run asks.
 */
async function chargePrivacy(budget: PrivacyBudget, request: StepRequest, bill: PrivacyBill): Promise<void> {
  const charge = (release: PrivacyRelease) => ({
    runId: request.runId, step: release.step, org: request.org, datasets: bill.datasets,
    epsilon: release.epsilon, delta: release.delta, unitVariance: release.unitVariance,
  });
  if (bill.addsNoiseTo) await budget.charge(charge(bill.addsNoiseTo));
  else if (bill.releases.length > 0) await budget.check(bill.releases.map(charge));
}

/**
 * Opens the step's inputs one at a time, each admitted to `replayGuard` as it is opened; the
 * caller commits the batch (one fsync) before the container starts, the first use of any of them.
 */
async function* openInputs(deps: SiteDeps, request: StepRequest, replayGuard: ReplayBatch): AsyncGenerator<OpenedInput> {
  for (const input of request.inputs) {
    // A blob is fetched and checked against its reference (digest, size, binding), then opened
    // exactly as an inline envelope: signatures, binding to this step, replay.
    // The refusal another party sees is vague; the site's own log says which check failed.
    const logBlobRefusal = (err: unknown): never => {
      const reason = err instanceof ParleyError ? err.details.reason : undefined;
      if (reason) Context.current().log.warn('input blob refused', { runId: request.runId, step: request.step, org: deps.org, from: input.from, reason });
      throw err;
    };
    const envelope = await envelopeOf(input.envelope, deps.blobs).catch(logBlobRefusal);
    const opened = await openEnvelope(envelope, {
      expect: { runId: request.runId, step: input.fromStep, recipient: deps.org },
      receiveKey: deps.keys.receive.privateJwk,
      senderSigningKey: async (org) => (await deps.directory.publicKeys(org))?.sign.jwk,
      replayGuard,
    });
    const { binding } = opened;
    if (binding.from !== input.from) {
      throw new ParleyError(ErrorCode.EnvelopeBinding, `An input of step "${request.step}" was not sent by the organisation the run says it came from.`, { runId: request.runId, step: request.step });
    }
    const place = { from: binding.from, step: binding.step, seq: binding.seq };
    if (opened.detached === undefined) {
      yield { ...place, body: opened.body };
    } else {
      const { detached } = opened;
      yield { ...place, write: (file: string) => writeDetachedBody(deps.blobs, request.runId, detached, file).catch(logBlobRefusal) };
    }
  }
}

/**
 * The step's container — its prepared one, or created now while the replay ledger writes the
 * step's admitted inputs (both wait on I/O: the engine, an fsync) — once the inputs are durable,
 * and how long creating it took (0 when prepared). A container whose inputs failed to commit is
 * removed, and the commit's refusal thrown.
 */
async function createAlongside(docker: Docker, spec: SandboxSpec, prepared: Docker.Container | undefined, admitted: Promise<void>): Promise<{ container: Docker.Container; createMs: number }> {
  const started = performance.now();
  const creating = prepared ? Promise.resolve({ container: prepared, createMs: 0 }) : createSandbox(docker, spec).then((container) => ({ container, createMs: performance.now() - started }));
  const [made, durable] = await Promise.allSettled([creating, admitted]);
  if (durable.status === 'rejected') {
    if (made.status === 'fulfilled') await made.value.container.remove({ force: true }).catch(() => undefined);
    throw durable.reason;
  }
  if (made.status === 'rejected') throw made.reason;
  return made.value;
}

/** Seals a message's content as JSON text (or the blob it was sealed into) for `to`. */
async function sealFor(deps: SiteDeps, request: StepRequest, to: OrgId[], seq: number, content: { body: Uint8Array } | { detached: SealedBlobBody }): Promise<Envelope> {
  const recipients = [];
  for (const org of to) {
    const keys = await deps.directory.publicKeys(org);
    if (!keys) {
      throw new ParleyError(ErrorCode.UnknownSender, `Site "${deps.org}" cannot seal for "${org}": no public key is published for it.`, { runId: request.runId, step: request.step, org });
    }
    recipients.push({ org, receiveJwk: keys.receive.jwk });
  }
  return sealEnvelope({
    binding: { runId: request.runId, step: request.step, from: deps.org, to: [...to].sort(), seq },
    ...content,
    sender: deps.keys,
    recipients,
  } as SealInput);
}

async function endRun(deps: SiteDeps, memo: SiteMemo, runId: string): Promise<RunCleanup> {
  memo.volumes.delete(runId);
  // Prepared steps and exited containers first: their containers hold the volume.
  await memo.prepared.endRun(runId);
  const removed = await removeRunVolumes(deps.docker, { runId, org: deps.org });
  await deps.ledger.forget(runId);
  Context.current().log.info('run ended at site', { runId, org: deps.org, ...removed });
  return removed;
}

/**
 * Turns a ParleyError into a non-retryable failure typed by its code; anything else stays
 * retryable (a transient fault). Envelope errors keep their vague message.
 */
function asActivityFailure(err: unknown): unknown {
  if (err instanceof ParleyError) {
    return ApplicationFailure.create({ type: err.code, message: err.message, nonRetryable: true });
  }
  return err;
}
