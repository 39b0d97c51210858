/**
 * What a site checks before it runs a step, tried as the parties who might cheat would: a curious
 * central operator who starts runs or steps of its own on Temporal, a relay that alters a signed
 * run, and a researcher whose chain asks a site for more than its policy allows. Every refusal
 * happens before any container starts, with a code of its own.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChainSpec } from '../common/chain.ts';
import { ErrorCode, type ParleyError } from '../common/errors.ts';
import { generateOrgKeys, publicKeysOf, signRunManifest, type OrgKeys } from '../crypto/index.ts';
import { MANIFEST_VERSION, type RunManifest } from '../common/run-manifest.ts';
import { protocolPrivacyArgs } from '../common/privacy/protocol-privacy.ts';
import { checkStep, type CheckContext } from './check-step.ts';
import { fileKeyDirectory, publishPublicKeys } from './key-directory.ts';
import { DEFAULT_MIN_MODULUS, NO_PRIVACY_POLICY, asAnalysisImage, asProtocolImage, type SitePolicy } from './site-policy.ts';
import type { StepRequest } from './types.ts';

const digest = (c: string) => `sha256:${c.repeat(64)}`;
const PREPROCESS = { name: 'parley/preprocess', digest: digest('a') };
const ANALYSE = { name: 'parley/analyse', digest: digest('b') };
const ADDITIVE = { name: 'parley/additive-sum', digest: digest('c') };
const RING = { name: 'parley/secure-sum', digest: digest('d') };
const SITES = ['north', 'south', 'east'];
const MODULUS = DEFAULT_MIN_MODULUS.toString();

const CHAIN: ChainSpec = {
  name: 'cohort-mean',
  steps: [
    { kind: 'container', id: 'preprocess', image: PREPROCESS, datasets: ['patients'], args: { where: [{ column: 'age', op: '>=', value: 40 }] }, after: [], inputs: [] },
    { kind: 'container', id: 'analyse', image: ANALYSE, datasets: [], args: { column: 'lab_value' }, after: ['preprocess'], inputs: [] },
    { kind: 'secure-sum', id: 'total', protocol: 'additive', image: ADDITIVE, values: 'statistics.json', modulus: MODULUS, after: ['analyse'] },
  ],
};

let dir: string;
let researcher: OrgKeys;
let operator: OrgKeys;
let context: CheckContext;

const policy: SitePolicy = {
  collaborations: { study: { requesters: ['lab'], datasets: ['patients'] } },
  minSites: 3,
  minModulus: DEFAULT_MIN_MODULUS,
  privacy: NO_PRIVACY_POLICY,
};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'parley-check-step-'));
  researcher = await generateOrgKeys('lab');
  // The central operator's own organisation: its keys are published like anyone's.
  operator = await generateOrgKeys('central');
  for (const keys of [researcher, operator]) await publishPublicKeys(dir, publicKeysOf(keys));
  context = {
    org: 'north', workflowId: 'run-1', policy, directory: fileKeyDirectory(dir),
    allowedImages: [asAnalysisImage(PREPROCESS), asAnalysisImage(ANALYSE), asProtocolImage(ADDITIVE), asProtocolImage(RING)],
  };
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

function manifestOf(overrides: Partial<RunManifest> = {}): RunManifest {
  const now = Date.now();
  return {
    v: MANIFEST_VERSION, runId: 'run-1', collaboration: 'study', requester: 'lab', participants: SITES,
    plan: { kind: 'chain', chain: CHAIN }, createdAt: new Date(now - 1000).toISOString(), expiresAt: new Date(now + 3_600_000).toISOString(),
    ...overrides,
  };
}

async function requestOf(overrides: Partial<StepRequest> = {}, manifest = manifestOf(), signer = researcher): Promise<StepRequest> {
  return {
    runId: 'run-1', step: 'preprocess', org: 'north', image: PREPROCESS, datasets: ['patients'], args: CHAIN.steps[0]!.kind === 'container' ? CHAIN.steps[0]!.args : {},
    participants: SITES, requester: 'lab', inputs: [], seqStart: 0, timeoutMs: 300_000,
    manifest: await signRunManifest(manifest, signer.sign.privateJwk),
    ...overrides,
  };
}

async function refusal(request: StepRequest, ctx: CheckContext = context): Promise<ParleyError> {
  return checkStep(request, ctx).then(() => { throw new Error('the step was allowed'); }, (err: ParleyError) => err);
}

describe('a site checks every step against the signed manifest and its own policy', () => {
  it('allows a step exactly as the researcher signed it, and keeps its output at the site', async () => {
    const permit = await checkStep(await requestOf(), context);
    expect(permit.manifest.requester).toBe('lab');
    expect(permit).toMatchObject({ sendTo: [], mayOutput: false });
  });

  it('refuses a step whose run carries no manifest', async () => {
    const err = await refusal({ ...(await requestOf()), manifest: '' });
    expect(err.code).toBe(ErrorCode.ManifestInvalid);
  });

  it('refuses a manifest the central operator signed in the researcher\'s name', async () => {
    const err = await refusal(await requestOf({}, manifestOf(), operator));
    expect(err.code).toBe(ErrorCode.ManifestInvalid);
    expect(err.message).toMatch(/does not verify with "lab"'s signing key/);
  });

  it('refuses a manifest altered after signing (one more dataset in its chain)', async () => {
    const request = await requestOf();
    const [header, payload, signature] = request.manifest.split('.');
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString('utf8')) as RunManifest;
    if (claims.plan.kind === 'chain') (claims.plan.chain.steps[0] as { datasets: string[] }).datasets.push('registry');
    const altered = `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${signature}`;
    expect((await refusal({ ...request, manifest: altered })).code).toBe(ErrorCode.ManifestInvalid);
  });

  it('refuses a genuine manifest replayed in another workflow', async () => {
    const err = await refusal(await requestOf(), { ...context, workflowId: 'run-by-someone-else' });
    expect(err.code).toBe(ErrorCode.ManifestInvalid);
    expect(err.message).toMatch(/signed for run "run-1", not this run "run-by-someone-else"/);
  });

  it('refuses an expired manifest', async () => {
    const err = await refusal(await requestOf(), { ...context, now: new Date(Date.now() + 2 * 3_600_000) });
    expect(err.code).toBe(ErrorCode.ManifestInvalid);
    expect(err.message).toMatch(/Start the run again/);
  });

  it('refuses a run the operator\'s own organisation requested, which the site does not admit', async () => {
    const manifest = manifestOf({ requester: 'central' });
    const err = await refusal(await requestOf({ requester: 'central' }, manifest, operator));
    expect(err.code).toBe(ErrorCode.RunNotAdmitted);
    expect(err.message).toMatch(/does not admit runs requested by "central" in collaboration "study"/);
  });

  it('refuses a collaboration the site does not take part in', async () => {
    const err = await refusal(await requestOf({}, manifestOf({ collaboration: 'other-study' })));
    expect(err.code).toBe(ErrorCode.RunNotAdmitted);
    expect(err.message).toMatch(/does not take part in collaboration "other-study"/);
  });

  it('refuses a dataset the collaboration may not read, even when the researcher signed it', async () => {
    const chain: ChainSpec = { ...CHAIN, steps: [{ ...CHAIN.steps[0]!, datasets: ['registry'] } as ChainSpec['steps'][number], ...CHAIN.steps.slice(1)] };
    const err = await refusal(await requestOf({ datasets: ['registry'] }, manifestOf({ plan: { kind: 'chain', chain } })));
    expect(err.code).toBe(ErrorCode.RunNotAdmitted);
    expect(err.message).toMatch(/does not let collaboration "study" read dataset "registry"/);
  });

  it('refuses a site that is not among the signed participants', async () => {
    const err = await refusal(await requestOf({ org: 'west' }), { ...context, org: 'west' });
    expect(err.code).toBe(ErrorCode.RunNotAdmitted);
  });

  it('refuses participants other than the signed ones', async () => {
    const err = await refusal(await requestOf({ participants: ['north', 'south'] }));
    expect(err.code).toBe(ErrorCode.StepNotInManifest);
  });

  it.each([
    ['arguments', { args: { where: [] } }],
    ['image', { image: ANALYSE }],
    ['step', { step: 'extract' }],
    ['time limit', { timeoutMs: 3_600_000 }],
    ['inputs', { inputs: [{ envelope: {} as never, fromStep: 'analyse', from: 'south' }] }],
  ] as const)('refuses a step whose %s differ from the signed chain', async (_what, change) => {
    const err = await refusal(await requestOf(change as Partial<StepRequest>));
    expect(err.code).toBe(ErrorCode.StepNotInManifest);
    expect(err.message).toMatch(/nothing was run/);
  });

  it('recomputes a secure-sum step\'s role and neighbours: another aggregator is refused', async () => {
    const step = { runId: 'run-1', step: 'total.additive.0.share', image: ADDITIVE, datasets: [], inputs: [] };
    const args = { role: 'share', aggregator: 'north', modulus: MODULUS, source: { volume: 'statistics.json' } };
    const permit = await checkStep(await requestOf({ ...step, args }), context);
    expect(permit).toMatchObject({ sendTo: ['south', 'east'], mayOutput: false });
    const err = await refusal(await requestOf({ ...step, args: { ...args, aggregator: 'south' } }));
    expect(err.code).toBe(ErrorCode.StepNotInManifest);
  });

  it('lets only the aggregator\'s combine step write the total for the researcher', async () => {
    const combine = {
      step: 'total.additive.2.combine', image: ADDITIVE, datasets: [],
      args: { role: 'combine', aggregator: 'north', modulus: MODULUS, source: { volume: 'statistics.json' } },
      inputs: ['south', 'east'].map((from) => ({ envelope: {} as never, fromStep: 'total.additive.1.sum', from })),
    };
    expect(await checkStep(await requestOf(combine), context)).toMatchObject({ sendTo: [], mayOutput: true });
    const atSouth = { ...context, org: 'south' };
    const err = await refusal(await requestOf({ ...combine, org: 'south', inputs: ['north', 'east'].map((from) => ({ envelope: {} as never, fromStep: 'total.additive.1.sum', from })) }), atSouth);
    expect(err.code).toBe(ErrorCode.StepNotInManifest);
  });

  it('refuses the secure-sum image run as a plain container step (a two-site ring built by hand)', async () => {
    // The researcher's crafted chain: the ring's finish role as a container step of its own.
    const chain: ChainSpec = { name: 'by-hand', steps: [{ kind: 'container', id: 'finish', image: RING, datasets: [], args: { role: 'finish' }, after: [], inputs: [] }] };
    const err = await refusal(await requestOf({ step: 'finish', image: RING, datasets: [], args: { role: 'finish' } }, manifestOf({ plan: { kind: 'chain', chain } })));
    expect(err.code).toBe(ErrorCode.ImageRoleNotAllowed);
    expect(err.message).toMatch(/allowed at site "north" only as a protocol image.*parley site allow parley\/secure-sum --role analysis/);
  });

  it('refuses an analysis image run as a secure sum\'s protocol', async () => {
    const chain: ChainSpec = { name: 'wrong-role', steps: [{ ...CHAIN.steps[2]!, image: ANALYSE } as ChainSpec['steps'][number]] };
    const args = { role: 'share', aggregator: 'north', modulus: MODULUS, source: { volume: 'statistics.json' } };
    const err = await refusal(await requestOf({ step: 'total.additive.0.share', image: ANALYSE, datasets: [], args }, manifestOf({ plan: { kind: 'chain', chain } })));
    expect(err.code).toBe(ErrorCode.ImageRoleNotAllowed);
  });

  it('refuses a secure sum over a small modulus, before any value is read (no size oracle)', async () => {
    const chain: ChainSpec = { ...CHAIN, steps: [...CHAIN.steps.slice(0, 2), { ...CHAIN.steps[2]!, modulus: '1000' } as ChainSpec['steps'][number]] };
    const args = { role: 'share', aggregator: 'north', modulus: '1000', source: { volume: 'statistics.json' } };
    const err = await refusal(await requestOf({ step: 'total.additive.0.share', image: ADDITIVE, datasets: [], args }, manifestOf({ plan: { kind: 'chain', chain } })));
    expect(err.code).toBe(ErrorCode.ReleaseRefused);
    expect(err.message).toMatch(/modulus is below the smallest site "north" accepts/);
  });

  it('refuses a secure sum over fewer sites than the site\'s minimum, whatever the coordinator allowed', async () => {
    const manifest = manifestOf({ participants: ['north', 'south'] });
    const args = { role: 'share', aggregator: 'north', modulus: MODULUS, source: { volume: 'statistics.json' } };
    const err = await refusal(await requestOf({ participants: ['north', 'south'], step: 'total.additive.0.share', image: ADDITIVE, datasets: [], args }, manifest));
    expect(err.code).toBe(ErrorCode.ReleaseRefused);
    expect(err.message).toMatch(/spans 2 sites.*at least 3/);
  });

  it('lets an analysis image release its own output only where its allow-list entry says so', async () => {
    const chain: ChainSpec = { name: 'release', steps: [{ ...CHAIN.steps[0]!, image: ANALYSE } as ChainSpec['steps'][number]] };
    const request = await requestOf({ image: ANALYSE }, manifestOf({ plan: { kind: 'chain', chain } }));
    expect(await checkStep(request, context)).toMatchObject({ mayOutput: false });
    const releasing = { ...context, allowedImages: [asAnalysisImage(ANALYSE, true)] };
    expect(await checkStep(request, releasing)).toMatchObject({ mayOutput: true });
  });
});

describe('a site derives a private secure sum\'s noise from the signed manifest, and keeps its own rules on private datasets', () => {
  const PRIVATE: ChainSpec = { ...CHAIN, steps: [...CHAIN.steps.slice(0, 2), { ...CHAIN.steps[2]!, privacy: { epsilon: 1, delta: 1e-6 } } as ChainSpec['steps'][number]] };
  const privateManifest = () => manifestOf({ plan: { kind: 'chain', chain: PRIVATE } });
  const shareArgs = (privacy: { [key: string]: number } | undefined) => ({ role: 'share', aggregator: 'north', modulus: MODULUS, source: { volume: 'statistics.json' }, ...(privacy ? { privacy } : {}) });
  const signed = { epsilon: 1, delta: 1e-6, unitVariance: protocolPrivacyArgs({ epsilon: 1, delta: 1e-6 }).unitVariance };

  it('runs the share step with the noise the requester signed for, and bills this site\'s datasets for it', async () => {
    const permit = await checkStep(await requestOf({ step: 'total.additive.0.share', image: ADDITIVE, datasets: [], args: shareArgs(signed) }, privateManifest()), context);
    const release = { step: 'total', ...signed };
    expect(permit.privacy).toEqual({ datasets: ['patients'], releases: [release], addsNoiseTo: release, releasesNoisy: false });
  });

  it('refuses a share step whose noise a relay turned down (a smaller variance than the signed ε implies)', async () => {
    const err = await refusal(await requestOf({ step: 'total.additive.0.share', image: ADDITIVE, datasets: [], args: shareArgs({ ...signed, unitVariance: signed.unitVariance / 100 }) }, privateManifest()));
    expect(err.code).toBe(ErrorCode.StepNotInManifest);
  });

  it('refuses a share step with the noise dropped altogether', async () => {
    const err = await refusal(await requestOf({ step: 'total.additive.0.share', image: ADDITIVE, datasets: [], args: shareArgs(undefined) }, privateManifest()));
    expect(err.code).toBe(ErrorCode.StepNotInManifest);
  });

  it('refuses any step of an exact secure sum over a dataset its operator keeps for private releases', async () => {
    const strict = { ...context, policy: { ...policy, privacy: { budgets: {}, requirePrivacy: ['patients'] } } };
    const err = await refusal(await requestOf(), strict);
    expect(err.code).toBe(ErrorCode.ReleaseRefused);
    expect(err.message).toMatch(/dataset "patients" only with differential privacy, and its secure sum "total" asks for no privacy/);
    // The same chain with privacy runs there.
    const permit = await checkStep(await requestOf({}, privateManifest()), strict);
    expect(permit.privacy?.datasets).toEqual(['patients']);
  });

  it('takes its release right from an analysis image over a private dataset: only the noisy total leaves', async () => {
    const chain: ChainSpec = { name: 'release', steps: [{ ...CHAIN.steps[0]!, image: ANALYSE } as ChainSpec['steps'][number]] };
    const request = await requestOf({ image: ANALYSE }, manifestOf({ plan: { kind: 'chain', chain } }));
    const releasing = { ...context, allowedImages: [asAnalysisImage(ANALYSE, true)] };
    expect(await checkStep(request, releasing)).toMatchObject({ mayOutput: true });
    const strict = { ...releasing, policy: { ...policy, privacy: { budgets: {}, requirePrivacy: ['patients'] } } };
    expect(await checkStep(request, strict)).toMatchObject({ mayOutput: false, sendTo: [] });
  });
});
