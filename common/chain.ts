/**
 * A chain as the chain workflow receives it: parsed from YAML or JSON, validated, and with every
 * image pinned by digest. Types and the few patterns both sides check (the chain-file parser and
 * the workflow's own guard must agree): the workflow, the API, the CLI and the parser all share
 * this contract, and none of it holds data or keys.
 *
 * A chain file is written in terms a data scientist knows (image names, "all sites"); the
 * parser (cli side) turns it into a ChainSpec: images resolved to digests, defaults filled in.
 */
import type { Envelope } from './envelope.ts';
import type { OrgId } from './ids.ts';
import type { SignedManifest } from './run-manifest.ts';
import type { PrivacySpec } from './privacy/protocol-privacy.ts';
import type { VerticalStep } from './vertical.ts';

/** `[a-z][a-z0-9-]{0,63}`: a chain's name. */
export const CHAIN_NAME = /^[a-z][a-z0-9-]{0,63}$/;
/** `[a-z][a-z0-9-]{0,31}`: a step's id, unique in its chain. */
export const CHAIN_STEP_ID = /^[a-z][a-z0-9-]{0,31}$/;
/** A file name in the run volume: no directories, so a step cannot reach outside it. */
export const VOLUME_FILE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
/** A public modulus: a decimal integer from 100 to 78 digits (up to ~2^256), as a string. */
export const MODULUS = /^[1-9][0-9]{2,77}$/;

/** An image pinned by name and content digest (`sha256:…`), as sites allow-list it. */
export interface PinnedImage {
  name: string;
  digest: string;
}

export type ChainJson = string | number | boolean | null | ChainJson[] | { [key: string]: ChainJson };

/**
 * A step that runs one image at some sites, in parallel. It may read, at each site, what earlier
 * steps left in that site's run volume (`after`), and the messages earlier steps at other sites
 * sent to it (`inputs`: envelopes, opened by the receiving site). What it writes with
 * `output()` is sealed for the requester.
 */
export interface ContainerStep {
  kind: 'container';
  /** `[a-z][a-z0-9-]{0,31}`, unique in the chain. */
  id: string;
  image: PinnedImage;
  /** The sites that run it; absent means every participant of the run. */
  at?: OrgId[];
  /** Datasets mounted at /data/<name>, read-only; every site that runs the step must have them. */
  datasets: string[];
  args: { [key: string]: ChainJson };
  /** Steps that must have finished first (their run-volume files are then in place). */
  after: string[];
  /** Earlier container steps whose messages addressed to this step's sites it reads. */
  inputs: string[];
  /** This step's container limit; the run's default when absent. */
  timeoutMs?: number;
}

/** The fewest sites a secure sum allows: with two, each learns the other's value from the total. */
export const MIN_SECURE_SUM_SITES = 3;

/** The secure-sum protocols a chain can aggregate with. */
export const SECURE_SUM_PROTOCOLS = ['ring', 'additive'] as const;
export type SecureSumProtocol = (typeof SECURE_SUM_PROTOCOLS)[number];

/**
 * A secure sum over every participant of the run of the integer vector each site's earlier step
 * wrote to its run volume (`values`, a file name there). Only the total reaches the requester.
 */
export interface SecureSumStep {
  kind: 'secure-sum';
  id: string;
  /** `additive` unless the chain says otherwise. */
  protocol: SecureSumProtocol;
  /** The protocol's image (parley/additive-sum or parley/secure-sum, or the chain's own). */
  image: PinnedImage;
  /** The file in each site's run volume holding `{ layout, values }` (see algorithms/analyse). */
  values: string;
  /** Public modulus, decimal. */
  modulus: string;
  /**
   * Differential privacy of the total: every site adds its share of Skellam noise before the
   * sum (common/privacy/rdp.ts), and each site charges its datasets' budgets. Absent: the exact total.
   */
  privacy?: PrivacySpec;
  after: string[];
  timeoutMs?: number;
}

/** The fewest sources a link allows: a private set intersection needs two sides. */
export const MIN_LINK_SOURCES = 2;

/** One site's side of a link: the org (`at`, a participant) and the dataset it links. */
export interface LinkSource {
  at: OrgId;
  dataset: string;
  /**
   * Columns the later analyses need: a row with an empty cell in any of them is left out before
   * linking, so it is not linked anywhere (to the others it looks like a person the site lacks).
   */
  complete?: string[];
}

/**
 * A private record linkage (multi-party Diffie–Hellman PSI, common/link-plan.ts and
 * algorithms/link) over `identifier` at the sources' sites. Afterwards each source site's run
 * volume holds `<id>.rows.csv` (its rows of the intersection, identifier column left out, one
 * line per person in an order common to all sources) and `<id>.json` ({ rows, dataset, columns }).
 * Nothing is sealed for the requester.
 */
export interface LinkStep {
  kind: 'link';
  id: string;
  /** The protocol's image (parley/link, or the chain's own). */
  image: PinnedImage;
  /** The identifier column, in every source's dataset. */
  identifier: string;
  /** In order: the first compares (it alone sees fully blinded lists). */
  sources: LinkSource[];
  after: string[];
  timeoutMs?: number;
}

/** A vertical analysis over linked rows: common/vertical.ts. */
export type { VerticalStep } from './vertical.ts';

export type ChainStep = ContainerStep | SecureSumStep | LinkStep | VerticalStep;

export interface ChainSpec {
  /** `[a-z][a-z0-9-]{0,63}`: the chain's name, for people. */
  name: string;
  description?: string;
  steps: ChainStep[];
}

/** The chain workflow's argument. The workflow id is the run id. */
export interface ChainRunInput {
  chain: ChainSpec;
  /** Every site taking part; `at` lists and secure sums refer to these. */
  participants: OrgId[];
  /** Who every output is sealed for. Never a participant. */
  requester: OrgId;
  /** A step's container limit when the step does not set one. */
  stepTimeoutMs?: number;
  /** How long a site's worker may take none of its steps before the run fails naming it (default 15 min). */
  siteDownToleranceMs?: number;
  /**
   * The requester's signed manifest of this run (common/run-manifest.ts): every site checks each
   * step it is asked against it, so nothing here is taken on the coordinator's word.
   */
  manifest: SignedManifest;
}

/** One output sealed for the requester. */
export interface ChainOutput {
  /** The chain step it belongs to. */
  step: string;
  /** The step id the envelope is bound to (a secure sum's last protocol step, say). */
  boundStep: string;
  org: OrgId;
  envelope: Envelope;
}

/** How one activity went, for reports and benchmarks; never a value. */
export interface ChainStepReport {
  /** The chain step. */
  chainStep: string;
  /** The step id the site ran (protocol steps have their own ids under the chain step's). */
  step: string;
  org: OrgId;
  envelopes: number;
  timings: { openMs: number; containerMs: number; sealMs: number; totalMs: number };
}

export interface ChainResult {
  runId: string;
  chain: string;
  /** Every output sealed for the requester, in chain-step order, then by site. */
  outputs: ChainOutput[];
  steps: ChainStepReport[];
}
