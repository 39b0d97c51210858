/**
 * What a site checks before it runs anything a run asks of it: that the requester signed this
 * run, that the site's own policy admits it, and that the step asked is exactly one the signed
 * manifest implies — image, datasets, arguments, inputs and who receives what; for a secure-sum
 * step its role and neighbours, recomputed here from the manifest. The API, the coordinator and
 * Temporal are untrusted for all of it: anyone who can start a workflow can put anything in a
 * step request, so a site takes nothing from the request that the manifest does not say.
 *
 * The checks run in the order numbered below; each failure is a ParleyError with its own code,
 * naming what failed, thrown before any container starts.
 */
import { ErrorCode, ParleyError } from '../common/errors.ts';
import type { ChainSpec, ContainerStep, LinkStep, PinnedImage, SecureSumStep, VerticalStep } from '../common/chain.ts';
import { linkCallArgs, linkCallDatasets, linkCallFor } from '../common/link-plan.ts';
import { verticalArgs, verticalPlan, verticalSteps } from '../common/vertical.ts';
import type { OrgId } from '../common/ids.ts';
import { repositoryOf } from '../common/image-name.ts';
import { protocolPrivacyArgs } from '../common/privacy/protocol-privacy.ts';
import { secureSumArgs } from '../common/secure-sum-args.ts';
import { DEFAULT_STEP_TIMEOUT_MS, type RunManifest } from '../common/run-manifest.ts';
import { canonicalJson, verifyRunManifest, readRunManifest } from '../crypto/index.ts';
import type { KeyDirectory } from './key-directory.ts';
import type { VerifiedManifests } from './verified-manifests.ts';
import { ImageRole, type AllowedImage, type SitePolicy } from './site-policy.ts';
import type { JsonValue, StepPreparation, StepRequest } from './types.ts';

/** How far a requester's clock may run ahead of the site's. */
const CLOCK_SKEW_MS = 5 * 60_000;

/** What the site may let the step do, as its manifest and the site's policy imply. */
export interface StepPermit {
  manifest: RunManifest;
  /** The allow-list entry the step's image matched, in the role the step needs. */
  entry: AllowedImage;
  /** The organisations the container may send messages to. */
  sendTo: OrgId[];
  /** Whether the container may write an output, sealed for the requester. */
  mayOutput: boolean;
  /** What the run costs this site's privacy budgets (issue 13); absent when it reads no dataset here. */
  privacy?: PrivacyBill;
}

/** A differentially private secure sum of the run, as the site charges it. */
export interface PrivacyRelease {
  /** The chain step (the charge's key within the run). */
  step: string;
  epsilon: number;
  delta: number;
  unitVariance: number;
}

/**
 * The run's privacy cost at this site: the datasets its steps here read (every release of the
 * run may rest on any of them), every private release of the run, and — at the one step where
 * this site adds its noise to a release — which release this step is. The site charges there,
 * before the noisy values leave it.
 */
export interface PrivacyBill {
  datasets: string[];
  releases: PrivacyRelease[];
  /** The release this step adds this site's noise to. */
  addsNoiseTo?: PrivacyRelease;
  /** This step is a private release's last: its output carries noise, and the site checks it as such. */
  releasesNoisy: boolean;
}

export interface CheckContext {
  org: OrgId;
  /** The workflow id Temporal says the step belongs to. */
  workflowId: string;
  policy: SitePolicy;
  allowedImages: readonly AllowedImage[];
  /** Where the requester's signing key comes from: the site's pinned directory. */
  directory: KeyDirectory;
  /** Manifests this worker already verified (the run's earlier steps); without it each step verifies afresh. */
  manifests?: VerifiedManifests;
  now?: Date;
}

/** One step a manifest implies at one site. */
interface ImpliedStep {
  role: ImageRole;
  image: PinnedImage;
  datasets: string[];
  args: { [key: string]: JsonValue };
  /** Exactly these inputs (protocol steps), or any of these (container steps). */
  inputs: { exact: boolean; from: Array<{ fromStep: string; from: OrgId }> };
  timeoutMs: number;
  sendTo: OrgId[];
  mayOutput: boolean;
  /** A secure sum: the site's thresholds apply. */
  secureSum?: { modulus: string; privacy?: PrivacyRelease };
  /** A private secure sum's step at which this site adds its noise. */
  addsNoise?: boolean;
  /** For messages: the step the allow-list entry's `release` speaks for. */
  releasable: boolean;
}

/**
 * Checks `request` against its signed manifest and the site's policy; a step's preparation is
 * checked alike, on its inputs' origins (the envelopes come only with the step itself).
 * @returns what the step may do (whom it may send to, whether it may write an output).
 * @throws ParleyError ManifestInvalid, RunNotAdmitted, StepNotInManifest, ImageRoleNotAllowed,
 *   ImageNotAllowed, ReleaseRefused.
 */
export async function checkStep(request: StepRequest | StepPreparation, ctx: CheckContext): Promise<StepPermit> {
  const { org } = ctx;
  const ids = { runId: request.runId, step: request.step, org };

  // 1. The manifest is signed by the requester it names, with the key this site pinned for it
  //    (verified once per manifest and key: the cache holds only what verified).
  const claimed = readRunManifest(request.manifest);
  const requesterKeys = await ctx.directory.publicKeys(claimed.requester);
  if (!requesterKeys) {
    throw new ParleyError(ErrorCode.ManifestInvalid, `Step "${request.step}" did not run: site "${org}" knows no signing key for the run's requester "${claimed.requester}", so it cannot check who asked.`, { ...ids, requester: claimed.requester });
  }
  const manifest = await (ctx.manifests ? ctx.manifests.verify(request.manifest, requesterKeys.sign.jwk) : verifyRunManifest(request.manifest, requesterKeys.sign.jwk));

  // 2. It is this run's manifest: the workflow id, the request's run id and the signed one agree.
  if (manifest.runId !== request.runId || request.runId !== ctx.workflowId) {
    throw new ParleyError(ErrorCode.ManifestInvalid, `Step "${request.step}" did not run: its manifest was signed for run "${manifest.runId}", not this run "${ctx.workflowId}".`, ids);
  }

  // 3. It is current.
  const now = (ctx.now ?? new Date()).getTime();
  if (now + CLOCK_SKEW_MS < Date.parse(manifest.createdAt) || now >= Date.parse(manifest.expiresAt)) {
    throw new ParleyError(ErrorCode.ManifestInvalid, `Step "${request.step}" did not run: its manifest is valid from ${manifest.createdAt} to ${manifest.expiresAt}, and it is now ${new Date(now).toISOString()}. Start the run again.`, ids);
  }

  // 4. The request's run-wide fields are the signed ones, and this site takes part.
  if (request.requester !== manifest.requester || canonicalJson(request.participants) !== canonicalJson(manifest.participants)) {
    throw notInManifest(request, org, 'its requester or participants differ from those the requester signed');
  }
  if (!manifest.participants.includes(org)) {
    throw new ParleyError(ErrorCode.RunNotAdmitted, `Step "${request.step}" did not run: site "${org}" is not a participant of run "${request.runId}" as its requester signed it.`, ids);
  }

  // 5. The site's own policy admits the collaboration, the requester and every dataset.
  const collaboration = ctx.policy.collaborations[manifest.collaboration];
  if (!collaboration) {
    throw new ParleyError(ErrorCode.RunNotAdmitted, `Step "${request.step}" did not run: site "${org}" does not take part in collaboration "${manifest.collaboration}". Its operator adds it under collaborations in site.yaml.`, { ...ids, collaboration: manifest.collaboration });
  }
  if (!collaboration.requesters.includes(manifest.requester)) {
    throw new ParleyError(ErrorCode.RunNotAdmitted, `Step "${request.step}" did not run: site "${org}" does not admit runs requested by "${manifest.requester}" in collaboration "${manifest.collaboration}". Its operator adds the requester under collaborations.${manifest.collaboration}.requesters in site.yaml.`, { ...ids, requester: manifest.requester, collaboration: manifest.collaboration });
  }
  for (const dataset of request.datasets) {
    if (!collaboration.datasets.includes(dataset)) {
      throw new ParleyError(ErrorCode.RunNotAdmitted, `Step "${request.step}" did not run: site "${org}" does not let collaboration "${manifest.collaboration}" read dataset "${dataset}". Its operator lists the datasets a collaboration may read under collaborations.${manifest.collaboration}.datasets in site.yaml.`, { ...ids, dataset, collaboration: manifest.collaboration });
    }
  }

  // 6. The step is one the manifest implies at this site, exactly as asked.
  const implied = impliedStep(manifest, request.step, org);
  if (!implied) throw notInManifest(request, org, 'the signed manifest implies no such step at this site');
  if (request.image.digest !== implied.image.digest || repositoryOf(request.image.name) !== repositoryOf(implied.image.name)) throw notInManifest(request, org, 'its image is not the one signed for it');
  if (canonicalJson(request.datasets) !== canonicalJson(implied.datasets)) throw notInManifest(request, org, 'its datasets are not the ones signed for it');
  if (canonicalJson(request.args) !== canonicalJson(implied.args)) throw notInManifest(request, org, 'its arguments are not the ones signed for it (or, for a secure sum, its role or neighbours)');
  if (!Number.isInteger(request.timeoutMs) || request.timeoutMs <= 0 || request.timeoutMs > implied.timeoutMs) throw notInManifest(request, org, 'its time limit is longer than the signed one');
  const asked = request.inputs.map((i) => ({ fromStep: i.fromStep, from: i.from }));
  const key = (i: { fromStep: string; from: string }) => `${i.fromStep}\u0000${i.from}`;
  const allowedInputs = new Set(implied.inputs.from.map(key));
  if (implied.inputs.exact
    // A multiset: a link's call may read two messages of one step at one site.
    ? canonicalJson(asked.map(key).sort()) !== canonicalJson(implied.inputs.from.map(key).sort())
    : !asked.every((i) => allowedInputs.has(key(i)))) {
    throw notInManifest(request, org, 'its inputs are not ones the signed chain routes to it');
  }

  // 7. A secure sum spans enough sites, over a large enough modulus, for this site to take part.
  if (implied.secureSum) {
    if (manifest.participants.length < ctx.policy.minSites) {
      throw new ParleyError(ErrorCode.ReleaseRefused, `Step "${request.step}" did not run: its secure sum spans ${manifest.participants.length} sites, and site "${org}" contributes only to secure sums over at least ${ctx.policy.minSites}. Add participants.`, ids);
    }
    if (BigInt(implied.secureSum.modulus) < ctx.policy.minModulus) {
      throw new ParleyError(ErrorCode.ReleaseRefused, `Step "${request.step}" did not run: its modulus is below the smallest site "${org}" accepts (${ctx.policy.minModulus}). Use a modulus of at least that.`, ids);
    }
  }

  // 8. The image is on the allow-list by name and digest, in the role the step needs.
  const matching = ctx.allowedImages.filter((a) => a.digest === request.image.digest && repositoryOf(a.name) === repositoryOf(request.image.name));
  const entry = matching.find((a) => a.role === implied.role);
  if (!entry) {
    if (matching.length > 0) {
      throw new ParleyError(ErrorCode.ImageRoleNotAllowed, `Step "${request.step}" did not run: image ${request.image.name}@${request.image.digest} is allowed at site "${org}" only as ${matching.map((a) => `a ${a.role} image`).join(' and ')}, and this step needs a ${implied.role} image. Ask ${org}'s operator to allow it for that role (\`parley site allow ${request.image.name} --role ${implied.role}\`), or use another image.`, { ...ids, image: request.image.name, digest: request.image.digest });
    }
    throw new ParleyError(ErrorCode.ImageNotAllowed, `Step "${request.step}" did not run: image ${request.image.name}@${request.image.digest} is not on site "${org}"'s allow-list. Ask ${org}'s operator to allow it by name and digest (\`parley site allow ${request.image.name} --role ${implied.role}\`), or choose an allowed image.`, { ...ids, image: request.image.name, digest: request.image.digest });
  }
  // 9. Datasets that admit only private releases: every secure sum of the run adds noise, and
  //    nothing else of the run leaves this site (an analysis image's own release right lapses).
  const bill = privacyBill(manifest, org, implied);
  const strict = (bill?.datasets ?? []).filter((d) => ctx.policy.privacy.requirePrivacy.includes(d));
  if (strict.length > 0) {
    // The plan's first secure sum without privacy, as the refusal names it.
    const exact = manifest.plan.kind === 'secure-sum'
      ? 'its secure sum'
      : manifest.plan.chain.steps.flatMap((s) => (s.kind === 'secure-sum' && !s.privacy ? [`its secure sum "${s.id}"`] : s.kind === 'vertical' ? [`its vertical step "${s.id}"`] : []))[0];
    if (exact) {
      throw new ParleyError(ErrorCode.ReleaseRefused, `Step "${request.step}" did not run: site "${org}" releases figures from dataset "${strict[0]}" only with differential privacy, and ${exact} asks for no privacy. Add privacy: { epsilon } to every secureSum of the chain.`, { ...ids, dataset: strict[0] });
    }
  }
  // An analysis image keeps everything at the site unless its entry lets it release.
  const releases = !implied.releasable || (strict.length === 0 && entry.release === true);
  return { manifest, entry, sendTo: releases ? implied.sendTo : [], mayOutput: releases && implied.mayOutput, ...(bill ? { privacy: bill } : {}) };
}

/**
 * What the run costs this site's budgets: the datasets any of its steps here reads, and its
 * private releases. Undefined for a run that reads no dataset here.
 */
function privacyBill(manifest: RunManifest, org: OrgId, implied: ImpliedStep): PrivacyBill | undefined {
  const { plan, participants } = manifest;
  const datasets = plan.kind === 'secure-sum'
    ? [plan.dataset]
    : [...new Set(plan.chain.steps.flatMap((s) => (s.kind === 'container' && (s.at ?? participants).includes(org) ? s.datasets : [])))].sort();
  if (datasets.length === 0) return undefined;
  const releases = plan.kind === 'secure-sum' ? [] : plan.chain.steps.flatMap((s) => (s.kind === 'secure-sum' && s.privacy ? [privacyRelease(s)] : []));
  const release = implied.secureSum?.privacy;
  return {
    datasets,
    releases,
    ...(release && implied.addsNoise ? { addsNoiseTo: release } : {}),
    releasesNoisy: release !== undefined && implied.mayOutput,
  };
}

function privacyRelease(step: SecureSumStep): PrivacyRelease {
  const args = protocolPrivacyArgs(step.privacy!);
  return { step: step.id, epsilon: args.epsilon, delta: args.delta, unitVariance: args.unitVariance };
}

function notInManifest(request: StepRequest | StepPreparation, org: OrgId, why: string): ParleyError {
  return new ParleyError(ErrorCode.StepNotInManifest, `Step "${request.step}" did not run at site "${org}": ${why}. The run may have been altered after the requester signed it; nothing was run.`, { runId: request.runId, step: request.step, org });
}

/** The step `stepId` at `org` as `manifest` implies it, or undefined when it implies none. */
function impliedStep(manifest: RunManifest, stepId: string, org: OrgId): ImpliedStep | undefined {
  const { plan, participants, requester } = manifest;
  if (plan.kind === 'secure-sum') {
    return protocolStep(stepId, '', participants, org, {
      protocol: plan.protocol, image: plan.image, modulus: plan.modulus, datasets: [plan.dataset],
      args: { dataset: plan.dataset, modulus: plan.modulus }, timeoutMs: plan.stepTimeoutMs ?? DEFAULT_STEP_TIMEOUT_MS,
    });
  }
  const defaultTimeoutMs = plan.stepTimeoutMs ?? DEFAULT_STEP_TIMEOUT_MS;
  const chain = plan.chain;
  for (const step of chain.steps) {
    if (step.kind === 'container' && step.id === stepId) return containerStep(chain, step, participants, requester, org, defaultTimeoutMs);
    if (step.kind === 'link' && stepId.startsWith(`${step.id}.`)) return linkStep(step, stepId, org, defaultTimeoutMs);
    if (step.kind === 'vertical' && stepId.startsWith(`${step.id}.vertical.`)) return verticalStep(step, stepId, participants, org, defaultTimeoutMs);
    if (step.kind === 'secure-sum' && stepId.startsWith(`${step.id}.`)) {
      return protocolStep(stepId, `${step.id}.`, participants, org, secureSumShape(step, defaultTimeoutMs));
    }
  }
  return undefined;
}

function containerStep(chain: ChainSpec, step: ContainerStep, participants: OrgId[], requester: OrgId, org: OrgId, defaultTimeoutMs: number): ImpliedStep | undefined {
  const sitesOf = (s: ContainerStep) => s.at ?? participants;
  if (!sitesOf(step).includes(org)) return undefined;
  const inputs = step.inputs.flatMap((id) => {
    const source = chain.steps.find((s): s is ContainerStep => s.kind === 'container' && s.id === id);
    return source ? sitesOf(source).filter((o) => o !== org).map((from) => ({ fromStep: id, from })) : [];
  });
  // Messages go only to sites where a later step reads this step's messages.
  const readers = chain.steps.filter((s): s is ContainerStep => s.kind === 'container' && s.inputs.includes(step.id));
  const sendTo = [...new Set(readers.flatMap(sitesOf))].filter((o) => o !== org && o !== requester);
  return {
    role: ImageRole.Analysis, image: step.image, datasets: step.datasets, args: step.args as { [key: string]: JsonValue },
    inputs: { exact: false, from: inputs }, timeoutMs: step.timeoutMs ?? defaultTimeoutMs,
    sendTo, mayOutput: true, releasable: true,
  };
}

/**
 * A link step's call at this site, recomputed from the signed step's sources (common/link-plan.ts,
 * which the coordinator runs too): role, hops, inputs and dataset. A protocol role: it sends only
 * to the sites its hops name and outputs nothing.
 */
function linkStep(step: LinkStep, stepId: string, org: OrgId, defaultTimeoutMs: number): ImpliedStep | undefined {
  const call = linkCallFor(step.sources.map((s) => s.at), `${step.id}.`, stepId, org);
  if (!call) return undefined;
  return {
    role: ImageRole.Protocol, image: step.image, datasets: linkCallDatasets(step, call), args: linkCallArgs(step, call),
    inputs: { exact: true, from: call.inputs }, timeoutMs: step.timeoutMs ?? defaultTimeoutMs,
    sendTo: [...new Set(call.hops.map((h) => h.to))], mayOutput: false, releasable: false,
  };
}

/**
 * A vertical step's protocol step at `org`, recomputed from the signed chain: the plan (which
 * site deals, masks, shares and releases, common/vertical.ts) is the one the coordinator runs,
 * so the role, inputs and recipients asked must be exactly the plan's. Only the release, at the
 * aggregator, may output; it is checked there like a secure sum's total (the site's thresholds).
 */
function verticalStep(step: VerticalStep, stepId: string, participants: OrgId[], org: OrgId, defaultTimeoutMs: number): ImpliedStep | undefined {
  let plan;
  try {
    plan = verticalPlan(step, participants);
  } catch {
    return undefined;
  }
  const mine = verticalSteps(step.id, plan, participants).find((s) => s.step === stepId && s.org === org);
  if (!mine) return undefined;
  return {
    role: ImageRole.Protocol, image: step.image, datasets: [], args: { role: mine.role, ...verticalArgs(step, plan) } as { [key: string]: JsonValue },
    inputs: { exact: true, from: mine.inputs }, timeoutMs: step.timeoutMs ?? defaultTimeoutMs,
    sendTo: mine.sendTo, mayOutput: mine.mayOutput, releasable: false, secureSum: { modulus: step.modulus },
  };
}

interface SecureSumShape {
  protocol: SecureSumStep['protocol'];
  image: PinnedImage;
  modulus: string;
  datasets: string[];
  /** The arguments every protocol step gets besides its role and neighbours. */
  args: { [key: string]: JsonValue };
  timeoutMs: number;
  privacy?: PrivacyRelease;
}

function secureSumShape(step: SecureSumStep, defaultTimeoutMs: number): SecureSumShape {
  return {
    protocol: step.protocol, image: step.image, modulus: step.modulus, datasets: [], ...(step.privacy ? { privacy: privacyRelease(step) } : {}),
    args: secureSumArgs(step) as { [key: string]: JsonValue }, timeoutMs: step.timeoutMs ?? defaultTimeoutMs,
  };
}

/**
 * A secure-sum protocol step recomputed from the participants: which site plays which role, its
 * neighbours and inputs. Mirrors workflows/protocols/ring.ts and additive.ts, which the
 * coordinator runs; here it is the site's own account of what the protocol may ask of it.
 */
function protocolStep(stepId: string, prefix: string, participants: OrgId[], org: OrgId, shape: SecureSumShape): ImpliedStep | undefined {
  const rest = stepId.slice(prefix.length);
  const n = participants.length;
  const base = {
    role: ImageRole.Protocol, image: shape.image, datasets: shape.datasets, timeoutMs: shape.timeoutMs, releasable: false,
    secureSum: { modulus: shape.modulus, ...(shape.privacy ? { privacy: shape.privacy } : {}) },
  };
  const first = participants[0]!;
  if (shape.protocol === 'ring') {
    const match = /^ring\.(0|[1-9][0-9]{0,3})\.(start|add|finish)$/.exec(rest);
    if (!match) return undefined;
    const i = Number(match[1]);
    const role = match[2];
    const previous = (k: number) => `${prefix}ring.${k}.${k === 0 ? 'start' : 'add'}`;
    if (role === 'start' && i === 0 && org === first) {
      return { ...base, addsNoise: true, args: { role: 'start', next: participants[1]!, ...shape.args }, inputs: { exact: true, from: [] }, sendTo: [participants[1]!], mayOutput: false };
    }
    if (role === 'add' && i >= 1 && i < n && org === participants[i]) {
      const next = participants[(i + 1) % n]!;
      return { ...base, addsNoise: true, args: { role: 'add', next, ...shape.args }, inputs: { exact: true, from: [{ fromStep: previous(i - 1), from: participants[i - 1]! }] }, sendTo: [next], mayOutput: false };
    }
    if (role === 'finish' && i === n && org === first) {
      return { ...base, args: { role: 'finish', ...shape.args }, inputs: { exact: true, from: [{ fromStep: previous(n - 1), from: participants[n - 1]! }] }, sendTo: [], mayOutput: true };
    }
    return undefined;
  }
  const step = { share: `${prefix}additive.0.share`, sum: `${prefix}additive.1.sum`, combine: `${prefix}additive.2.combine` };
  const others = participants.filter((p) => p !== org);
  const args = (role: string) => ({ role, aggregator: first, ...shape.args });
  if (stepId === step.share) {
    return { ...base, addsNoise: true, args: args('share'), inputs: { exact: true, from: [] }, sendTo: others, mayOutput: false };
  }
  if (stepId === step.sum) {
    return { ...base, args: args('sum'), inputs: { exact: true, from: others.map((from) => ({ fromStep: step.share, from })) }, sendTo: org === first ? [] : [first], mayOutput: false };
  }
  if (stepId === step.combine && org === first) {
    return { ...base, args: args('combine'), inputs: { exact: true, from: others.map((from) => ({ fromStep: step.sum, from })) }, sendTo: [], mayOutput: true };
  }
  return undefined;
}
