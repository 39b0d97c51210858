/**
 * The chain file as a data scientist writes it (YAML or JSON), as a zod schema: the one source of
 * the file's TypeScript types, of its validation (parse-chain-file.ts) and of the published JSON
 * Schema (chain.schema.json, written by generate-schema.ts). Rules that span steps — references
 * to earlier steps, sites — are in chain-rules.ts, since a JSON Schema cannot say them.
 */
import { z } from 'zod';
import { CHAIN_NAME, CHAIN_STEP_ID as STEP_ID, MODULUS, SECURE_SUM_PROTOCOLS, VOLUME_FILE } from '../common/chain.ts';
import { DEFAULT_DELTA, MAX_DELTA, MAX_EPSILON } from '../common/privacy/protocol-privacy.ts';
import { DATASET_NAME } from '../common/ids.ts';
import { ONE_ANALYSIS, oneAnalysis, verticalAnalysisFields } from './vertical-schema.ts';

export { CHAIN_NAME, CHAIN_STEP_ID as STEP_ID, MODULUS, VOLUME_FILE } from '../common/chain.ts';
/** An organisation id (common/ids.ts). */
export const SITE_ID = /^[a-z][a-z0-9-]{0,39}$/;
/** A dataset name, as site.yaml names its datasets. */
export const DATASET = DATASET_NAME;
/** An image name without a digest: `parley/preprocess`, `registry:5000/sum:1`. */
export const IMAGE_NAME = /^[a-z0-9][A-Za-z0-9._/:-]{0,254}$/;
/** An image reference: a name, optionally pinned as `name@sha256:<64 hex>`. */
export const IMAGE_REF = /^[a-z0-9][A-Za-z0-9._/:-]{0,254}(@sha256:[0-9a-f]{64})?$/;
/** 2^64: comfortably above any count or sum a registry releases. */
export const DEFAULT_MODULUS = (1n << 64n).toString();
/** The longest a step's container may run: a day. */
export const MAX_TIMEOUT_SECONDS = 86_400;
export const MAX_STEPS = 64;
export const MAX_SITES = 100;

const unique = <T>(items: T[]) => new Set(items).size === items.length;

const stepId = z.string().regex(STEP_ID, { error: 'must be a step id: a lowercase letter, then lowercase letters, digits or "-", at most 32 characters' });
const stepRefs = (what: string) => z.array(stepId).max(MAX_STEPS)
  .refine(unique, { error: `must not name a step twice` })
  .describe(what);
const siteId = z.string().regex(SITE_ID, { error: 'must be an organisation id: a lowercase letter, then lowercase letters, digits or "-", at most 40 characters' });
const siteList = z.array(siteId).min(1, { error: 'must list at least one site' }).max(MAX_SITES)
  .refine(unique, { error: 'must not list a site twice' });
const timeoutSeconds = z.number().int({ error: 'must be a whole number of seconds' })
  .min(1, { error: 'must be at least 1 second' }).max(MAX_TIMEOUT_SECONDS, { error: `must be at most ${MAX_TIMEOUT_SECONDS} seconds (a day)` })
  .describe('The step\'s container time limit in seconds; the run\'s default when absent.');
const imageRef = z.string().regex(IMAGE_REF, { error: 'must be an image name such as parley/preprocess, or one pinned by digest: parley/preprocess@sha256:<64 lowercase hex digits>' });

/** A step that runs one image at some sites, in parallel. */
export const ContainerStepFileSchema = z.strictObject({
  id: stepId.describe('The step\'s id, unique in the chain.'),
  image: imageRef.describe('The image to run: a name (pinned by digest when the run starts) or name@sha256:<digest>.'),
  at: z.union([z.literal('all'), siteList], { error: 'must be "all" or a list of sites such as [registry-a, registry-b]' }).optional()
    .describe('Where it runs: "all" (the default) or a list of the chain\'s sites.'),
  datasets: z.array(z.string().regex(DATASET, { error: 'must be a dataset name: letters, digits, ".", "_" or "-", at most 64 characters' }))
    .max(32).refine(unique, { error: 'must not list a dataset twice' }).optional()
    .describe('Datasets mounted read-only at /data/<name>; every site that runs the step must have them.'),
  args: z.record(z.string(), z.json()).optional().describe('Arguments for the image, as JSON (PARLEY_ARGS).'),
  after: stepRefs('Earlier steps that must have finished first; at each site, what they wrote in the run volume is there.').optional(),
  inputs: stepRefs('Earlier container steps whose messages to this step\'s sites it reads (opened by each site).').optional(),
  timeoutSeconds: timeoutSeconds.optional(),
}).describe('A container step: one image, run at some sites in parallel.');

/** A release's (ε, δ): the bounds say why (common/privacy/protocol-privacy.ts). */
const privacyFile = z.strictObject({
  epsilon: z.number({ error: `must be a number: the release's ε, e.g. 1` }).gt(0, { error: 'must be above 0' })
    .max(MAX_EPSILON, { error: `must be at most ${MAX_EPSILON}: above that the release protects next to nothing` })
    .describe('The release\'s ε: smaller is more private and noisier.'),
  delta: z.number({ error: 'must be a number: the release\'s δ, e.g. 1e-6' }).gt(0, { error: 'must be above 0: the Skellam mechanism needs some δ' })
    .max(MAX_DELTA, { error: `must be at most ${MAX_DELTA}: δ is the chance the guarantee fails` }).optional()
    .describe(`The release's δ; default ${DEFAULT_DELTA}.`),
}, { error: 'must be a mapping with epsilon (and optionally delta)' });

export const SecureSumFileSchema = z.strictObject({
  protocol: z.enum(SECURE_SUM_PROTOCOLS, { error: `must be one of: ${SECURE_SUM_PROTOCOLS.join(', ')}` }).optional()
    .describe('ring (cheap; two neighbours together learn the site between them) or additive (the default: no coalition short of all other sites learns a value).'),
  values: z.string().regex(VOLUME_FILE, { error: 'must be a file name in the run volume (no directories), such as statistics.json' })
    .describe('The file in each site\'s run volume, written by an earlier step, holding the vector to sum.'),
  modulus: z.string({ error: 'must be a decimal integer written as a string (quote it), e.g. "18446744073709551616"' })
    .regex(MODULUS, { error: 'must be a decimal integer from 100 to 78 digits, as a string, e.g. "18446744073709551616"' }).optional()
    .describe(`Public modulus, decimal; default 2^64 (${DEFAULT_MODULUS}).`),
  image: imageRef.optional().describe('The protocol\'s image; default parley/additive-sum (additive) or parley/secure-sum (ring).'),
  privacy: privacyFile.optional()
    .describe('Differential privacy of the total: each site adds its share of noise before the sum and charges its datasets\' budgets. The values must come from an analysis step with bounds.'),
});

/** A step that sums, over every site of the run, a vector each site's earlier step wrote. */
export const SecureSumStepFileSchema = z.strictObject({
  id: stepId.describe('The step\'s id, unique in the chain.'),
  secureSum: SecureSumFileSchema,
  after: stepRefs('Earlier steps that must have finished first; one of them must run at every site and write the values file.'),
  timeoutSeconds: timeoutSeconds.optional(),
}).describe('A secure-sum step: only the total reaches the requester.');

/** A column name in a CSV header: no comma, quote or line break. */
export const COLUMN_NAME = /^[^,"\r\n]{1,64}$/;

export const LinkFileSchema = z.strictObject({
  identifier: z.string().regex(COLUMN_NAME, { error: 'must be the identifier column\'s name in every source\'s CSV header, e.g. patient_id' })
    .describe('The identifier column (a national patient number, say): it never leaves a site in the clear.'),
  sources: z.array(z.strictObject({
    at: siteId.describe('The site (an organisation of the run).'),
    dataset: z.string().regex(DATASET, { error: 'must be a dataset name: letters, digits, ".", "_" or "-", at most 64 characters' }).describe('The site\'s dataset to link.'),
    complete: z.array(z.string().regex(COLUMN_NAME, { error: 'must be a column name in the dataset\'s CSV header' })).max(64, { error: 'must list at most 64 columns' })
      .refine(unique, { error: 'must not list a column twice' }).optional()
      .describe('Columns the analyses need: rows with an empty cell in any of them are left out before linking.'),
  }, { error: 'must be { at: <site>, dataset: <name>, complete?: [columns] }' }))
    .min(2, { error: 'must list at least two sources: a linkage needs two sides' }).max(MAX_SITES)
    .refine((sources) => unique(sources.map((s) => s.at)), { error: 'must not list a site twice' })
    .describe('One per site, in order; the first compares the blinded lists.'),
  image: imageRef.optional().describe('The protocol\'s image; default parley/link.'),
});

/** A private record linkage across sites (multi-party Diffie–Hellman PSI). */
export const LinkStepFileSchema = z.strictObject({
  id: stepId.describe('The step\'s id, unique in the chain; its files in each source\'s run volume are <id>.rows.csv and <id>.json.'),
  link: LinkFileSchema,
  after: stepRefs('Earlier steps that must have finished first.').optional(),
  timeoutSeconds: timeoutSeconds.optional(),
}).describe('A link step: the sources\' rows of the intersection, in one common order, in each source\'s run volume.');


export const VerticalFileSchema = z.strictObject({
  linked: stepId.describe('The link step whose linked rows every site reads.'),
  ...verticalAnalysisFields,
  modulus: z.string().regex(MODULUS, { error: 'must be a decimal integer from 100 to 78 digits, as a string' }).optional()
    .describe(`Public modulus of the shares, decimal; default 2^64 (${DEFAULT_MODULUS}).`),
  image: imageRef.optional().describe('The protocol\'s image; default parley/vertical.'),
}).refine(oneAnalysis, { error: ONE_ANALYSIS });

/** A secure analysis of columns held at different sites, over the rows a link step matched. */
export const VerticalStepFileSchema = z.strictObject({
  id: stepId.describe('The step\'s id, unique in the chain.'),
  vertical: VerticalFileSchema,
  after: stepRefs('Earlier steps that must have finished first; the link step among them.').optional(),
  timeoutSeconds: timeoutSeconds.optional(),
}).describe('A vertical step: secure products across sites; only the aggregate reaches the requester.');

export const ChainStepFileSchema = z.union([ContainerStepFileSchema, SecureSumStepFileSchema, LinkStepFileSchema, VerticalStepFileSchema]);

export const ChainFileSchema = z.strictObject({
  $schema: z.string().optional().describe('The JSON Schema this file follows (for editors).'),
  version: z.literal(1, { error: 'must be 1, the only chain file version' }).describe('The chain file format version: 1.'),
  name: z.string().regex(CHAIN_NAME, { error: 'must be a chain name: a lowercase letter, then lowercase letters, digits or "-", at most 64 characters' })
    .describe('The chain\'s name, for people.'),
  description: z.string().max(500, { error: 'must be at most 500 characters' }).optional(),
  sites: siteList.optional().describe('The sites taking part; default: every site in the collaboration but yours.'),
  steps: z.array(ChainStepFileSchema).min(1, { error: 'must list at least one step' }).max(MAX_STEPS, { error: `must list at most ${MAX_STEPS} steps` })
    .describe('The steps, in order: each may only refer to steps before it.'),
}).describe('A Parley chain: steps run at the sites of a collaboration, in order where they depend on each other.');

export type ChainFile = z.infer<typeof ChainFileSchema>;
export type ContainerStepFile = z.infer<typeof ContainerStepFileSchema>;
export type SecureSumStepFile = z.infer<typeof SecureSumStepFileSchema>;
export type LinkStepFile = z.infer<typeof LinkStepFileSchema>;
export type ChainStepFile = z.infer<typeof ChainStepFileSchema>;
export type VerticalStepFile = z.infer<typeof VerticalStepFileSchema>;

/** Whether a step of the file is a link. */
export function isLinkStepFile(step: ChainStepFile): step is LinkStepFile {
  return 'link' in step;
}

/** Whether a step of the file is a secure sum (else it runs an image). */
export function isSecureSumStepFile(step: ChainStepFile): step is SecureSumStepFile {
  return 'secureSum' in step;
}

/** Whether a step of the file is a vertical analysis. */
export function isVerticalStepFile(step: ChainStepFile): step is VerticalStepFile {
  return 'vertical' in step;
}

/** Whether a step of the file runs an image of its own (a container step). */
export function isContainerStepFile(step: ChainStepFile): step is ContainerStepFile {
  return 'image' in step;
}
