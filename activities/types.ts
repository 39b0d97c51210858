/**
 * The site activities' contract, as types only: workflows import this file and nothing else
 * from activities/, so no implementation (Docker, keys) can leak into the workflow bundle.
 */
import type { Envelope, SealedMessage } from '../common/envelope.ts';
import type { OrgId } from '../common/ids.ts';
import type { SignedManifest } from '../common/run-manifest.ts';

/** An algorithm image as a site allow-lists it: by name and by content digest. */
export interface ImageRef {
  name: string;
  /** `sha256:…`: the image id, or a registry digest when the image came from a registry. */
  digest: string;
}

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** An envelope a step consumes, with where the orchestration says it came from. */
export interface StepInputEnvelope {
  /** Inline, or a reference to its blob when it was too large for the history. */
  envelope: SealedMessage;
  /** The step that produced it: the envelope's signed binding must name this step. */
  fromStep: string;
  from: OrgId;
}

/** One step at one site: run this image on these datasets with these opened inputs. */
export interface StepRequest {
  runId: string;
  step: string;
  /** The site that must run it; a worker refuses requests addressed to another organisation. */
  org: OrgId;
  image: ImageRef;
  datasets: string[];
  args: { [key: string]: JsonValue };
  participants: OrgId[];
  /** Who receives the step's output (`/v1/output`), sealed for them. */
  requester: OrgId;
  /**
   * The run's manifest as the requester signed it (common/run-manifest.ts). The site checks the
   * whole request against it (activities/check-step.ts) before it runs anything.
   */
  manifest: SignedManifest;
  inputs: StepInputEnvelope[];
  /** The sequence number of this site's first envelope in this step (per sender, per run). */
  seqStart: number;
  /** Wall-clock limit for the container. */
  timeoutMs: number;
  /**
   * This is the site's last step in the run: remove its run volume and ledger as soon as the
   * container is done, saving the run a separate cleanup round trip. The workflow still cleans
   * up every site itself when the run fails or is cancelled.
   */
  releaseAtEnd?: boolean;
}

/**
 * A step the workflow will ask of a site next, sent while the step before it runs (issue 17): the
 * request without what only that earlier step produces (its envelopes) and without the fields
 * the run's own request settles (sequence numbers, release at the end). The site checks it as it
 * checks a step and creates the step's container, so that the step itself only starts it.
 */
export interface StepPreparation extends Omit<StepRequest, 'inputs' | 'seqStart' | 'releaseAtEnd'> {
  /** Where the step's inputs will come from; the envelopes are not sealed yet. */
  inputs: Array<Pick<StepInputEnvelope, 'fromStep' | 'from'>>;
}

export interface StepTimings {
  /** Opening (decrypting, verifying) the inputs. */
  openMs: number;
  /** The container, from create to removal. */
  containerMs: number;
  /** Sealing what the algorithm sent. */
  sealMs: number;
  /** The whole activity at the site. */
  totalMs: number;
  /**
   * Where the activity's time went, phase by phase, back to back (wall ms; they add up to
   * totalMs). Absent in histories recorded before issue 17 measured them.
   */
  phases?: StepPhases;
  /**
   * The site worker process's CPU time over the activity (ms). In a process of its own the site's
   * own work (its container runs elsewhere); where several sites share a process (the one-machine
   * setup) it includes theirs, so it is an upper bound.
   */
  cpuMs?: number;
}

/**
 * A step's phases at its site: checking the request against its signed manifest and the site's
 * policy (and privacy budget); preparing (image id, workspace); opening the inputs; starting the
 * node socket; waiting for the run volume; creating the container while the replay ledger's fsync
 * makes the opened inputs' admission durable (the longer of the two); the container, start to
 * exit; closing the socket; disclosure control; sealing; the attestation; the run's end at this site.
 */
export type StepPhase = 'check' | 'prepare' | 'open' | 'socket' | 'volume' | 'create' | 'container' | 'close' | 'control' | 'seal' | 'attest' | 'end';
export type StepPhases = Partial<Record<StepPhase, number>>;

export interface StepOutcome {
  step: string;
  org: OrgId;
  /**
   * Messages to other organisations, sealed by this site, in the order the algorithm sent them;
   * each one above the site's blob threshold as a reference to its blob (activities/blob-messages.ts).
   */
  envelopes: SealedMessage[];
  /**
   * The step's output, sealed for the requester, when the algorithm wrote one. Always inline: the
   * requester reads it from the run's result after the run's blobs may be gone.
   */
  output?: Envelope;
  timings: StepTimings;
  /**
   * The site's signed statement of what it ran and sealed (common/attestation.ts): a compact JWS
   * by its signing key, checked by `parley audit verify` against this step's request.
   */
  attestation: string;
}

export interface RunCleanup {
  volumesRemoved: number;
  containersRemoved: number;
}

/** What a site worker offers on its task queue `site.<org>`. */
export interface SiteActivities {
  /** Runs one allowed image at this site; the failure type is a ParleyError code. */
  runStep(request: StepRequest): Promise<StepOutcome>;
  /**
   * Checks a step that is coming and creates its container, not starting it; the step then
   * uses it if its request matches exactly. Nothing runs: preparing is only ahead of time.
   */
  prepareStep(preparation: StepPreparation): Promise<void>;
  /** Removes the run's volume, containers (prepared ones too) and ledger at this site; idempotent. */
  endRun(runId: string): Promise<RunCleanup>;
}
