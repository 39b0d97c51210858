/**
 * The site configuration file: one YAML file per site worker, read once at the process edge and
 * validated. Every bad field is reported by its key path (`datasets.registry`) with the fix.
 * Secrets never live in it: the private keys and the site credential each have their own 0600
 * file, and the file only names them.
 */
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse } from 'yaml';
import { z } from 'zod';
import { ErrorCode, ParleyError } from '../../common/errors.ts';
import { DATASET_NAME, IMAGE_DIGEST } from '../../common/ids.ts';
import { COLLABORATION_ID } from '../../common/run-manifest.ts';
import { DEFAULT_MIN_MODULUS, DEFAULT_MIN_SITES, ImageRole, type DatasetBudget, type PrivacyPolicy, type SitePolicy } from '../../activities/site-policy.ts';

const ORG_ID = /^[a-z][a-z0-9-]{0,39}$/;
const IMAGE_NAME = /^(?:[A-Za-z0-9.-]+(?::[0-9]+)?\/)?[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9._-]{0,127})?$/;
const HOST_PORT = /^(?:\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}$/;

const path = (what: string) => z.string({ error: `must be a path: ${what}` }).min(1, { error: `must be a path: ${what}` });
const positive = (what: string) => z.number({ error: `must be a positive number (${what})` }).positive({ error: `must be a positive number (${what})` });
const count = (what: string) => z.int({ error: `must be a whole number (${what})` }).positive({ error: `must be at least 1 (${what})` });

const TlsSchema = z
  .strictObject({
    caFile: path('the CA certificate (PEM) that signed the Temporal server\'s certificate').optional(),
    certFile: path('this site\'s client certificate (PEM), for mTLS').optional(),
    keyFile: path('the private key (PEM) of certFile, for mTLS').optional(),
    serverName: z.string({ error: 'must be the host name on the server\'s certificate' }).min(1).optional(),
  })
  .refine((tls) => (tls.certFile === undefined) === (tls.keyFile === undefined), {
    error: 'mTLS needs both certFile and keyFile (or neither, for server-only TLS)',
    path: ['certFile'],
  });

const HOUR_MS = 3_600_000;
const DURATION_UNITS_MS = { h: HOUR_MS, d: 24 * HOUR_MS, w: 7 * 24 * HOUR_MS } as const;
const DURATION_FORMAT = 'must be a duration such as "12h", "30d" or "13w" (hours, days or weeks)';

/** A renewal period: whole hours, days or weeks; at least an hour, so a budget cannot be renewed away. */
const RenewEverySchema = z
  .string({ error: DURATION_FORMAT })
  .regex(/^[0-9]{1,6}[hdw]$/, { error: DURATION_FORMAT })
  .transform((text) => Number(text.slice(0, -1)) * DURATION_UNITS_MS[text.slice(-1) as keyof typeof DURATION_UNITS_MS])
  .refine((ms) => ms >= HOUR_MS, { error: 'must be at least "1h": a shorter period would let the same data be queried again and again almost at once' });

/**
 * δ is the chance the ε guarantee fails outright, so it must stay far below one in the number of
 * people in a dataset: with δ = 1/n a mechanism may publish one person's record in the clear and
 * still be (ε, δ)-DP. 10⁻³ is the loosest bound that makes sense for datasets of thousands;
 * 10⁻⁵ to 10⁻⁷ is usual (Dwork & Roth, "The Algorithmic Foundations of Differential Privacy", §2.3).
 */
export const MAX_BUDGET_DELTA = 1e-3;

const BudgetSchema = z.strictObject({
  // z.number() refuses .inf and .nan as well: an infinite budget is no budget (leave it out instead).
  epsilon: z.number({ error: 'must be the budget\'s ε, a positive finite number such as 1 or 3' })
    .positive({ error: 'must be the budget\'s ε, a positive finite number such as 1 or 3' }),
  delta: z.number({ error: 'must be the budget\'s δ, a number such as 1e-6' })
    .gt(0, { error: 'must be above 0: every release the site adds noise to spends some δ' })
    .lt(MAX_BUDGET_DELTA, { error: `must be below ${MAX_BUDGET_DELTA} (1e-6 is usual): δ is the chance the guarantee fails outright, and must stay far below one in the number of people in the dataset` }),
  renewEvery: RenewEverySchema.optional(),
}, { error: 'must be a mapping { epsilon, delta } (and optionally renewEvery, e.g. "30d")' });

/** A dataset entry: its path, or a mapping with its path and its privacy policy. */
const DatasetSchema = z.union([
  path('the dataset\'s file or directory on this machine'),
  z.strictObject({
    path: path('the dataset\'s file or directory on this machine'),
    budget: BudgetSchema.optional(),
    requirePrivacy: z.boolean({ error: 'must be true or false: whether only releases with differential privacy may read this dataset' }).optional(),
  }),
], { error: 'must be a path to the dataset\'s file or directory, or a mapping { path, budget?, requirePrivacy? }' });

const SiteConfigSchema = z.strictObject({
  organisation: z.string({ error: 'must be your organisation\'s id, a lowercase slug such as "north"' }).regex(ORG_ID, { error: 'must be an organisation id: a lowercase slug such as "north"' }),
  keyFile: path('the organisation\'s private key file, written by `parley site init`'),
  stateDir: path('a directory only this worker uses (pins, run ledger, step workspaces)'),
  temporal: z.strictObject({
    address: z.string({ error: 'must be the Temporal frontend as host:port, e.g. 127.0.0.1:7233' }).regex(HOST_PORT, { error: 'must be the Temporal frontend as host:port, e.g. 127.0.0.1:7233' }),
    namespace: z.string({ error: 'must be a Temporal namespace name' }).min(1, { error: 'must be a Temporal namespace name' }).default('default'),
    tls: TlsSchema.optional(),
    apiKeyFile: path('a file holding the Temporal API key (mode 0600)').optional(),
  }, { error: 'must be a mapping with address (and optionally namespace, tls, apiKeyFile)' }),
  api: z.strictObject({
    url: z.url({ protocol: /^https?$/, error: 'must be the Parley API\'s http(s) URL, e.g. https://parley.example.org' }),
    credentialFile: path('the file (mode 0600) holding the credential `parley site register` printed'),
  }, { error: 'must be a mapping with url and credentialFile' }),
  datasets: z
    .record(
      z.string().regex(DATASET_NAME, { error: 'dataset names are letters, digits, ".", "_" or "-"' }),
      DatasetSchema,
      { error: 'must map dataset names to paths (or to { path, budget?, requirePrivacy? })' },
    )
    .nullish()
    .transform((d) => d ?? {}),
  allowedImages: z
    .array(
      z.strictObject({
        name: z.string({ error: 'must be the image name, e.g. parley/secure-sum' }).regex(IMAGE_NAME, { error: 'must be an image name, e.g. parley/secure-sum' }),
        digest: z.string({ error: 'must be the image digest sha256:<64 hex>; use `parley site allow <image>`' }).regex(IMAGE_DIGEST, { error: 'must be the image digest sha256:<64 hex>; use `parley site allow <image>` to pin it' }),
        role: z.enum(Object.values(ImageRole), { error: `must be ${Object.values(ImageRole).join(' or ')}: a protocol image runs only as a secure sum's steps, an analysis image only as a chain's own steps` }).default(ImageRole.Analysis),
        release: z.boolean({ error: 'must be true or false: whether an analysis image\'s own output may leave this site' }).optional(),
      }, { error: 'each entry needs name and digest; use `parley site allow <image>`' })
        .refine((entry) => !(entry.release && entry.role === ImageRole.Protocol), { error: 'release is for analysis images: a protocol image releases only the secure sum\'s total', path: ['release'] }),
      { error: 'must be a list of { name, digest }; use `parley site allow <image>`' },
    )
    .nullish()
    .transform((a) => a ?? []),
  limits: z
    .strictObject({
      memoryMb: count('MiB of memory per step container').optional(),
      cpus: positive('CPUs per step container, fractions allowed').optional(),
      pids: count('processes per step container').optional(),
      stepTimeoutSeconds: count('the longest a step may run at this site').optional(),
      stepSendBytes: count('bytes of messages one step may send in all, e.g. 1073741824 for 1 GiB').optional(),
      stepMessages: count('messages one step may send').optional(),
    }, { error: 'must be a mapping of memoryMb, cpus, pids, stepTimeoutSeconds, stepSendBytes, stepMessages' })
    .default({}),
  collaborations: z
    .record(
      z.string().regex(COLLABORATION_ID, { error: 'collaboration ids are as the API shows them (letters, digits, ".", "_", "-")' }),
      z.strictObject({
        requesters: z.array(z.string().regex(ORG_ID, { error: 'must be an organisation id' }), { error: 'must list the organisations that may request runs here' }),
        datasets: z.array(z.string().regex(DATASET_NAME, { error: 'must be a dataset name under datasets' }), { error: 'must list the datasets runs in this collaboration may read' }),
      }, { error: 'must be a mapping with requesters and datasets' }),
      { error: 'must map collaboration ids to { requesters, datasets }' },
    )
    .nullish()
    .transform((c) => c ?? {}),
  secureSum: z
    .strictObject({
      minSites: z.int({ error: 'must be a whole number' }).min(DEFAULT_MIN_SITES, { error: `must be at least ${DEFAULT_MIN_SITES}: with two sites, each learns the other's value from the total` }).default(DEFAULT_MIN_SITES),
      minModulus: z.string({ error: 'must be a decimal integer or a power of two written "2^64", as a string' })
        .regex(/^(?:[1-9][0-9]{0,77}|2\^[0-9]{1,3})$/, { error: 'must be a decimal integer or a power of two written "2^64", as a string' })
        .transform((text) => (text.startsWith('2^') ? 1n << BigInt(text.slice(2)) : BigInt(text)))
        .refine((m) => m >= DEFAULT_MIN_MODULUS, { error: 'must be at least 2^64: a smaller modulus lets a researcher probe values by the sites\' refusals' })
        .default(DEFAULT_MIN_MODULUS),
    }, { error: 'must be a mapping with minSites and minModulus' })
    .default({ minSites: DEFAULT_MIN_SITES, minModulus: DEFAULT_MIN_MODULUS }),
  disclosureThreshold: count('the smallest count this site lets a result disclose').default(10),
  maxConcurrentSteps: count('steps this site runs at once').max(64, { error: 'must be at most 64' }).default(2),
  shutdownGraceSeconds: z.number({ error: 'must be a number of seconds' }).min(0, { error: 'must be 0 or more seconds' }).default(30),
});

type ParsedConfig = z.infer<typeof SiteConfigSchema>;

/** A validated site configuration; every path in it is absolute. */
export type SiteConfig = Omit<ParsedConfig, 'datasets'> & {
  /** Dataset name → its absolute path, whichever form its entry took. */
  datasets: Record<string, string>;
  /** The budgets and requirePrivacy flags of the dataset entries. */
  privacy: PrivacyPolicy;
  /** The file it was read from. */
  file: string;
};

/** Splits the dataset entries into name → path and the privacy policy they carry. */
function splitDatasets(entries: ParsedConfig['datasets']): { datasets: Record<string, string>; privacy: PrivacyPolicy } {
  const datasets: Record<string, string> = {};
  const budgets: Record<string, DatasetBudget> = {};
  const requirePrivacy: string[] = [];
  for (const [name, entry] of Object.entries(entries)) {
    if (typeof entry === 'string') {
      datasets[name] = entry;
      continue;
    }
    datasets[name] = entry.path;
    if (entry.budget) {
      const { epsilon, delta, renewEvery } = entry.budget;
      budgets[name] = { epsilon, delta, ...(renewEvery === undefined ? {} : { renewEveryMs: renewEvery }) };
    }
    if (entry.requirePrivacy) requirePrivacy.push(name);
  }
  return { datasets, privacy: { budgets, requirePrivacy } };
}

/** Resolves every path field against the configuration file's directory. */
function resolvePaths(config: Omit<SiteConfig, 'file'>, base: string): Omit<SiteConfig, 'file'> {
  const at = (p: string) => (isAbsolute(p) ? p : resolve(base, p));
  const opt = (p: string | undefined) => (p === undefined ? undefined : at(p));
  const { tls } = config.temporal;
  return {
    ...config,
    keyFile: at(config.keyFile),
    stateDir: at(config.stateDir),
    temporal: {
      ...config.temporal,
      ...(tls ? { tls: { ...tls, caFile: opt(tls.caFile), certFile: opt(tls.certFile), keyFile: opt(tls.keyFile) } } : {}),
      apiKeyFile: opt(config.temporal.apiKeyFile),
    },
    api: { ...config.api, credentialFile: at(config.api.credentialFile) },
    datasets: Object.fromEntries(Object.entries(config.datasets).map(([name, p]) => [name, at(p)])),
  };
}

/** The value at `path` in the parsed document, to tell a missing key from a wrong value. */
function valueAt(document: unknown, path: readonly PropertyKey[]): unknown {
  let value = document;
  for (const key of path) {
    if (typeof value !== 'object' || value === null) return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

function describeIssue(issue: z.core.$ZodIssue, document: unknown): string {
  const where = issue.path.map(String).join('.');
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => `${where ? `${where}.` : ''}${key}: unknown key; remove it or check its spelling`).join('\n');
  }
  if (issue.code === 'invalid_union') {
    // A dataset given as a mapping: report what is wrong inside it, not that it is no path either.
    const fitting = issue.errors.find((branch) => !branch.some((inner) => inner.code === 'invalid_type' && inner.path.length === 0));
    if (fitting) return fitting.map((inner) => describeIssue({ ...inner, path: [...issue.path, ...inner.path] }, document)).join('\n');
  }
  if (issue.code === 'invalid_type' && valueAt(document, issue.path) === undefined) {
    return `${where}: is missing; ${issue.message.replace(/^must/, 'it must')}`;
  }
  return `${where || '(top level)'}: ${issue.message}`;
}

/**
 * Validates a parsed configuration document; `file` names it in errors and anchors relative paths.
 * @throws ParleyError InvalidInput listing every bad field by its key path, and the fix.
 */
export function parseSiteConfig(document: unknown, file: string): SiteConfig {
  const parsed = SiteConfigSchema.safeParse(document ?? {});
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => describeIssue(issue, document));
    const first = parsed.error.issues[0]?.path.map(String).join('.');
    throw new ParleyError(ErrorCode.InvalidInput, `Site configuration ${file} is not valid:\n  ${lines.join('\n  ')}\nFix ${lines.length === 1 ? 'it' : 'them'} and start again.`, { path: file, key: first });
  }
  return { ...resolvePaths({ ...parsed.data, ...splitDatasets(parsed.data.datasets) }, dirname(file)), file };
}

/**
 * Reads and validates a site configuration file.
 * @throws ParleyError InvalidInput when it is missing, not YAML, or a field is bad (named by key path).
 */
export async function loadSiteConfig(file: string): Promise<SiteConfig> {
  const absolute = resolve(file);
  let text: string;
  try {
    text = await readFile(absolute, 'utf8');
  } catch {
    throw new ParleyError(ErrorCode.InvalidInput, `No site configuration at ${absolute}. Create one with \`parley site init\`, or pass --config FILE.`, { path: absolute });
  }
  let document: unknown;
  try {
    document = parse(text, { prettyErrors: true });
  } catch (err) {
    throw new ParleyError(ErrorCode.InvalidInput, `Site configuration ${absolute} is not valid YAML: ${(err as Error).message}`, { path: absolute });
  }
  return parseSiteConfig(document, absolute);
}

/** The operator's policy in `config`, as the site's activities check it (activities/check-step.ts). */
export function sitePolicyOf(config: SiteConfig): SitePolicy {
  return { collaborations: config.collaborations, minSites: config.secureSum.minSites, minModulus: config.secureSum.minModulus, privacy: config.privacy };
}
