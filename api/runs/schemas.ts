/**
 * The /v1/runs contract: request bodies, path and query parameters, and the answers, as zod
 * schemas that give the handlers their types, validate requests and document /openapi.json.
 */
import { z } from '@hono/zod-openapi';
import { ChainSpecSchema } from '../../chains/index.ts';
import { DATASET_NAME, IMAGE_DIGEST } from '../../common/ids.ts';
import { RUN_STATUSES } from '../../common/run-status.ts';
import { OrgIdSchema, TimestampSchema, UuidSchema } from '../schemas.ts';
import { ActivityState } from './activity-progress.ts';

/** The protocol column of a ring secure sum. */
export const RING_PROTOCOL = 'secure-sum-ring';
/** The protocol column of a chain run. */
export const CHAIN_PROTOCOL = 'chain';

const ImageSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._/:-]{0,254}$/, { error: 'must be an image name such as example/sum or registry:5000/sum:1 (no digest here)' }),
  digest: z.string().regex(IMAGE_DIGEST, { error: 'must be "sha256:" and 64 lowercase hex digits' }),
});

// One body for both kinds of run, told apart by `chain`: a union would report a mistake as
// "matches neither", where this names the field at fault.
const RING_FIELDS = ['protocol', 'modulus', 'dataset', 'image'] as const;
/** The longest site-down tolerance a run may ask for: a week. */
export const SITE_DOWN_TOLERANCE_MAX_MS = 7 * 24 * 60 * 60 * 1000;

/** POST /v1/runs: a chain run (`chain`) or a ring secure sum (the ring fields). */
export const StartBody = z.strictObject({
  collaborationId: UuidSchema,
  chain: ChainSpecSchema.optional().openapi({ description: 'A chain run: the resolved chain (chains/; `parley run` resolves a chain file into it). Leave out the ring fields.' }),
  protocol: z.literal(RING_PROTOCOL).optional().openapi({ description: 'A ring secure sum (the default without `chain`).' }),
  participants: z.array(OrgIdSchema).min(1, { error: 'must list at least 1 organisation' }).max(100, { error: 'must list at most 100 organisations' })
    .refine((ids) => new Set(ids).size === ids.length, { error: 'must not list an organisation twice' })
    .optional().openapi({ description: 'Who takes part (a ring: in ring order, the first initiates; at least 3). Default: every member with a live site except yours.' }),
  modulus: z.string().regex(/^[1-9][0-9]{2,77}$/, { error: 'must be a decimal integer from 100 to 78 digits, as a string' }).optional().openapi({ description: 'Ring runs: the public modulus.' }),
  dataset: z.string().regex(DATASET_NAME, { error: 'must be a dataset name: letters, digits, . _ -, at most 64 characters' }).optional().openapi({ description: 'Ring runs: the dataset each site counts.' }),
  image: ImageSchema.optional().openapi({ description: 'Ring runs: the secure-sum image.' }),
  siteDownToleranceMs: z.number().int({ error: 'must be a whole number of milliseconds' }).min(1000, { error: 'must be at least 1000 (one second)' }).max(SITE_DOWN_TOLERANCE_MAX_MS, { error: 'must be at most 604800000 (a week)' }).optional()
    .openapi({ description: 'How long a step may wait for its site\'s worker before the run fails naming that site (ERR_SITE_DOWN). Default 900000 (15 minutes). Not signed: it is the coordinator\'s patience, and no site checks it.' }),
  manifest: z.string().regex(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/, { error: 'must be the run manifest your organisation signed: a compact JWS (parley run signs it)' }).max(1 << 20)
    .openapi({ description: 'The run manifest (run id, collaboration, requester, participants, the chain or secure sum, times), a compact JWS by your organisation\'s signing key. Every site checks each step against it; the run id is its runId.' }),
}).superRefine((body, ctx) => {
  if (body.chain !== undefined) {
    for (const field of RING_FIELDS) {
      if (body[field] !== undefined) ctx.addIssue({ code: 'custom', path: [field], message: 'is for ring runs; a chain says everything in `chain`. Remove it' });
    }
    return;
  }
  for (const field of ['modulus', 'dataset', 'image'] as const) {
    if (body[field] === undefined) ctx.addIssue({ code: 'custom', path: [field], message: 'is required for a ring secure sum (or send `chain` to start a chain)' });
  }
  if (body.participants !== undefined && body.participants.length < 3) ctx.addIssue({ code: 'custom', path: ['participants'], message: 'must list at least 3 organisations' });
}).openapi('StartRun');

/** POST /v1/runs/participants: who would take part in a run, for the client to sign. */
export const ParticipantsBody = z.strictObject({
  collaborationId: UuidSchema,
  chain: ChainSpecSchema.optional().openapi({ description: 'The chain, when the run is one (its `at` sites must take part).' }),
}).openapi('RunParticipantsRequest');

export const ParticipantsSchema = z.object({
  collaborationId: z.string(), requester: OrgIdSchema, participants: z.array(OrgIdSchema),
}).openapi('RunParticipants');

/** A run as the API shows it. */
export const RunSchema = z.object({
  id: z.string(), collaborationId: z.string(), protocol: z.string(),
  requester: z.object({ userId: z.string(), orgId: OrgIdSchema }),
  participants: z.array(OrgIdSchema),
  modulus: z.string().optional(), dataset: z.string().optional(), image: z.object({ name: z.string(), digest: z.string() }).optional(),
  chain: z.record(z.string(), z.unknown()).optional().openapi({ description: 'Chain runs: the chain as started (a ChainSpec).' }),
  status: z.enum(RUN_STATUSES), hasResult: z.boolean(),
  createdAt: TimestampSchema, updatedAt: TimestampSchema,
}).openapi('Run');

/** The `{runId}` path parameter. */
export const RunParams = z.object({
  runId: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, { error: 'must be a run id as returned when the run started' })
    .openapi({ param: { name: 'runId', in: 'path' } }),
});

// Bounded so a request never outlives proxies' idle timeouts (commonly 60 s or more).
const MAX_WAIT_SECONDS = 60;
/** `?wait=N`: hold the answer until the run ends or N seconds pass. */
export const WaitQuery = z.strictObject({
  wait: z.string()
    .regex(/^[0-9]{1,2}$/, { error: `must be a whole number of seconds from 0 to ${MAX_WAIT_SECONDS}` })
    .transform(Number)
    .refine((n) => n <= MAX_WAIT_SECONDS, { error: `must be at most ${MAX_WAIT_SECONDS} seconds` })
    .optional()
    .openapi({
      param: { name: 'wait', in: 'query' }, type: 'integer', minimum: 0, maximum: MAX_WAIT_SECONDS,
      description: 'While the run is running, wait up to this many seconds for it to end before answering. Default 0: answer at once.',
    }),
});

/** `?wait=N&after=CURSOR`: hold the progress answer until something happens after the cursor. */
export const ProgressQuery = WaitQuery.extend({
  after: z.string().regex(/^[0-9]{1,12}$/, { error: 'must be the cursor of an earlier answer: a whole number' }).transform(Number).optional()
    .openapi({ param: { name: 'after', in: 'query' }, type: 'integer', minimum: 0, description: 'With wait: answer once something happened after this cursor (from an earlier answer).' }),
});

/** Where each step stands at each site. */
export const ProgressSchema = z.object({
  runId: z.string(),
  status: z.enum(RUN_STATUSES),
  cursor: z.number().int().openapi({ description: 'Pass as ?after= (with ?wait=) to wait for the next change.' }),
  sites: z.array(z.object({
    step: z.string().openapi({ description: 'The chain step (a ring run: the site\'s step).' }),
    siteStep: z.string().openapi({ description: 'The step id the site runs: a secure sum runs protocol steps under the chain step\'s id.' }),
    org: OrgIdSchema,
    state: z.enum(['pending', ...Object.values(ActivityState)]),
  })),
}).openapi('RunProgress');

/** A ring run's result: one envelope sealed for the requester. */
export const SealedResultSchema = z.object({ runId: z.string(), envelope: z.record(z.string(), z.unknown()) }).openapi('SealedResult');

/** A chain run's result: every output sealed for the requester. */
export const ChainResultSchema = z.object({
  runId: z.string(),
  outputs: z.array(z.object({ step: z.string(), boundStep: z.string(), org: OrgIdSchema, envelope: z.record(z.string(), z.unknown()) })),
}).openapi('SealedChainResult');
