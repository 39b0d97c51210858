/**
 * The zod schema of a resolved ChainSpec (common/chain.ts): what the API accepts in a chain run
 * request. A spec may be built by hand rather than by resolveChain, so it is held to the same
 * rules as a file — the same patterns, limits and cross-step rules — plus pinned images.
 */
import { z } from 'zod';
import { SECURE_SUM_PROTOCOLS } from '../common/chain.ts';
import { MAX_DELTA, MAX_EPSILON } from '../common/privacy/protocol-privacy.ts';
import type { ChainJson, ChainSpec } from '../common/chain.ts';
import { CHAIN_NAME, COLUMN_NAME, DATASET, IMAGE_NAME, MAX_SITES, MAX_STEPS, MAX_TIMEOUT_SECONDS, MODULUS, SITE_ID, STEP_ID, VOLUME_FILE } from './chain-file-schema.ts';
import { checkChainRules } from './chain-rules.ts';
import { parsePath } from './describe-issue.ts';
import type { StepShape } from './chain-rules.ts';
import { IMAGE_DIGEST } from '../common/ids.ts';
import { ONE_ANALYSIS, oneAnalysis, verticalAnalysisFields } from './vertical-schema.ts';

const unique = <T>(items: T[]) => new Set(items).size === items.length;
const stepId = z.string().regex(STEP_ID, { error: 'must be a step id: a lowercase letter, then lowercase letters, digits or "-", at most 32 characters' });
const refs = z.array(stepId).max(MAX_STEPS).refine(unique, { error: 'must not name a step twice' });
const timeoutMs = z.number().int({ error: 'must be a whole number of milliseconds' }).min(1000, { error: 'must be at least 1000 ms' })
  .max(MAX_TIMEOUT_SECONDS * 1000, { error: `must be at most ${MAX_TIMEOUT_SECONDS * 1000} ms (a day)` });

/** JSON data only, at most 32 levels deep: what survives the trip to a container as PARLEY_ARGS. */
function isJson(value: unknown, depth = 0): value is ChainJson {
  if (depth > 32) return false;
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return true;
  if (typeof value === 'number') return Number.isFinite(value);
  if (Array.isArray(value)) return value.every((v) => isJson(v, depth + 1));
  if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) return Object.values(value).every((v) => isJson(v, depth + 1));
  return false;
}

// Not z.json(): its recursive schema would make the API's OpenAPI generator recurse for ever.
const jsonValue = z.unknown().refine(isJson, { error: 'must be JSON data: text, numbers, true/false, null, lists and mappings' });

export const PinnedImageSchema = z.strictObject({
  name: z.string().regex(IMAGE_NAME, { error: 'must be an image name such as parley/analyse (no digest here: it goes in digest)' }),
  digest: z.string().regex(IMAGE_DIGEST, { error: 'must be "sha256:" and 64 lowercase hex digits' }),
});

export const ContainerStepSpecSchema = z.strictObject({
  kind: z.literal('container'),
  id: stepId,
  image: PinnedImageSchema,
  at: z.array(z.string().regex(SITE_ID, { error: 'must be an organisation id' })).min(1, { error: 'must list at least one site, or be left out for every site' })
    .max(MAX_SITES).refine(unique, { error: 'must not list a site twice' }).optional(),
  datasets: z.array(z.string().regex(DATASET, { error: 'must be a dataset name: letters, digits, ".", "_" or "-", at most 64 characters' })).max(32)
    .refine(unique, { error: 'must not list a dataset twice' }),
  args: z.record(z.string(), jsonValue),
  after: refs,
  inputs: refs,
  timeoutMs: timeoutMs.optional(),
});

export const SecureSumStepSpecSchema = z.strictObject({
  kind: z.literal('secure-sum'),
  id: stepId,
  protocol: z.enum(SECURE_SUM_PROTOCOLS, { error: `must be one of: ${SECURE_SUM_PROTOCOLS.join(', ')}` }),
  image: PinnedImageSchema,
  values: z.string().regex(VOLUME_FILE, { error: 'must be a file name in the run volume (no directories), such as statistics.json' }),
  modulus: z.string().regex(MODULUS, { error: 'must be a decimal integer from 100 to 78 digits, as a string' }),
  privacy: z.strictObject({
    epsilon: z.number().gt(0, { error: 'must be above 0' }).max(MAX_EPSILON, { error: `must be at most ${MAX_EPSILON}` }),
    delta: z.number().gt(0, { error: 'must be above 0' }).max(MAX_DELTA, { error: `must be at most ${MAX_DELTA}` }),
  }).optional(),
  after: refs,
  timeoutMs: timeoutMs.optional(),
});

export const LinkStepSpecSchema = z.strictObject({
  kind: z.literal('link'),
  id: stepId,
  image: PinnedImageSchema,
  identifier: z.string().regex(COLUMN_NAME, { error: 'must be a column name' }),
  sources: z.array(z.strictObject({
    at: z.string().regex(SITE_ID, { error: 'must be an organisation id' }),
    dataset: z.string().regex(DATASET, { error: 'must be a dataset name' }),
    complete: z.array(z.string().regex(COLUMN_NAME, { error: 'must be a column name' })).max(64).optional(),
  })).min(2, { error: 'must list at least two sources' }).max(MAX_SITES).refine((s) => unique(s.map((x) => x.at)), { error: 'must not list a site twice' }),
  after: refs,
  timeoutMs: timeoutMs.optional(),
});
export const VerticalStepSpecSchema = z.strictObject({
  kind: z.literal('vertical'),
  id: stepId,
  linked: stepId,
  image: PinnedImageSchema,
  modulus: z.string().regex(MODULUS, { error: 'must be a decimal integer from 100 to 78 digits, as a string' }),
  ...verticalAnalysisFields,
  after: refs,
  timeoutMs: timeoutMs.optional(),
}).refine(oneAnalysis, { error: ONE_ANALYSIS });

/** The steps' shapes, for the cross-step rules (and for checking `at` against participants). */
export function specStepShapes(spec: Pick<ChainSpec, 'steps'>): StepShape[] {
  return spec.steps.map((s) => (s.kind === 'container'
    ? { id: s.id, kind: s.kind, at: s.at, after: s.after, inputs: s.inputs }
    : s.kind === 'vertical' ? { id: s.id, kind: s.kind, after: [...new Set([...s.after, s.linked])], inputs: [] }
    : { id: s.id, kind: s.kind, ...(s.kind === 'link' ? { at: s.sources.map((x) => x.at) } : {}), after: s.after, inputs: [] }));
}

/** A resolved chain, as the API accepts it: the ChainSpec contract, checked field by field and across steps. */
export const ChainSpecSchema = z.strictObject({
  name: z.string().regex(CHAIN_NAME, { error: 'must be a chain name: a lowercase letter, then lowercase letters, digits or "-", at most 64 characters' }),
  description: z.string().max(500, { error: 'must be at most 500 characters' }).optional(),
  steps: z.array(z.discriminatedUnion('kind', [ContainerStepSpecSchema, SecureSumStepSpecSchema, LinkStepSpecSchema, VerticalStepSpecSchema], { error: 'must have kind "container", "secure-sum", "link" or "vertical"' }))
    .min(1, { error: 'must list at least one step' }).max(MAX_STEPS, { error: `must list at most ${MAX_STEPS} steps` }),
}).superRefine((spec, ctx) => {
  for (const problem of checkChainRules(specStepShapes(spec))) {
    ctx.addIssue({ code: 'custom', path: parsePath(problem.path), message: problem.message });
  }
});

// The schema must not drift from the contract: this stops compiling if what it accepts is no
// longer a ChainSpec.
const acceptsOnlyChainSpecs: (spec: z.infer<typeof ChainSpecSchema>) => ChainSpec = (spec) => spec;
void acceptsOnlyChainSpecs;
