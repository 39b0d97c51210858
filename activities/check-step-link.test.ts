/**
 * What a site checks before it runs a call of a `link` step: the call it is asked is the one the
 * signed step's sources imply (common/link-plan.ts, recomputed here) — role, hops (so whom its
 * list goes to), inputs and dataset — and its image is allowed as a protocol image. A coordinator
 * that reroutes a list, say to make one site hold two lists of one blinding space, is refused
 * before any container starts.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChainSpec, LinkStep } from '../common/chain.ts';
import { ErrorCode, type ParleyError } from '../common/errors.ts';
import { linkCallArgs, linkCallDatasets, linkPlan, type LinkCall } from '../common/link-plan.ts';
import { MANIFEST_VERSION, type RunManifest } from '../common/run-manifest.ts';
import { generateOrgKeys, publicKeysOf, signRunManifest, type OrgKeys } from '../crypto/index.ts';
import { checkStep, type CheckContext } from './check-step.ts';
import { fileKeyDirectory, publishPublicKeys } from './key-directory.ts';
import { DEFAULT_MIN_MODULUS, NO_PRIVACY_POLICY, asAnalysisImage, asProtocolImage, type SitePolicy } from './site-policy.ts';
import type { StepRequest } from './types.ts';
import type { Envelope } from '../common/envelope.ts';

const LINK_IMAGE = { name: 'parley/link', digest: `sha256:${'e'.repeat(64)}` };
const SITES = ['hospital', 'lab', 'pharmacy'];
const STEP: LinkStep = { kind: 'link', id: 'linked', image: LINK_IMAGE, identifier: 'patient_id', sources: SITES.map((at) => ({ at, dataset: at })), after: [] };
const CHAIN: ChainSpec = { name: 'vertical-link', steps: [STEP] };
const PLAN = linkPlan(SITES, 'linked.').flat();

let dir: string;
let researcher: OrgKeys;
const policyOf = (org: string): SitePolicy => ({
  collaborations: { study: { requesters: ['researcher'], datasets: [org] } }, minSites: 3, minModulus: DEFAULT_MIN_MODULUS, privacy: NO_PRIVACY_POLICY,
});
const contextOf = (org: string, allowed = [asProtocolImage(LINK_IMAGE)]): CheckContext => ({ org, workflowId: 'run-1', policy: policyOf(org), directory: fileKeyDirectory(dir), allowedImages: allowed });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'parley-check-link-'));
  researcher = await generateOrgKeys('researcher');
  await publishPublicKeys(dir, publicKeysOf(researcher));
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function requestFor(call: LinkCall, overrides: Partial<StepRequest> = {}): Promise<StepRequest> {
  const now = Date.now();
  const manifest: RunManifest = {
    v: MANIFEST_VERSION, runId: 'run-1', collaboration: 'study', requester: 'researcher', participants: SITES,
    plan: { kind: 'chain', chain: CHAIN }, createdAt: new Date(now - 1000).toISOString(), expiresAt: new Date(now + 3_600_000).toISOString(),
  };
  return {
    runId: 'run-1', step: call.step, org: call.org, image: LINK_IMAGE, datasets: linkCallDatasets(STEP, call), args: linkCallArgs(STEP, call),
    participants: SITES, requester: 'researcher', inputs: call.inputs.map((i) => ({ ...i, envelope: {} as Envelope })), seqStart: 0, timeoutMs: 300_000,
    manifest: await signRunManifest(manifest, researcher.sign.privateJwk), ...overrides,
  };
}

const refusal = (request: StepRequest, ctx: CheckContext) => checkStep(request, ctx).then(() => { throw new Error('the step was allowed'); }, (err: ParleyError) => err);

describe('a site checks every call of a link step against the signed sources', () => {
  it('allows each call of the plan at its own site, sending only where its hops go, with no output', async () => {
    expect(PLAN).toHaveLength(10);
    for (const call of PLAN) {
      const permit = await checkStep(await requestFor(call), contextOf(call.org));
      expect(permit).toMatchObject({ sendTo: [...new Set(call.hops.map((h) => h.to))], mayOutput: false });
    }
  });

  it('refuses a rerouted list: lab asked to send hospital\'s half-blinded list on to hospital\'s comparer early', async () => {
    const pass = PLAN.find((c) => c.org === 'lab' && c.role === 'pass')!;
    const rerouted = { ...linkCallArgs(STEP, pass), hops: pass.hops.map((h) => ({ ...h, to: 'hospital' })) };
    const err = await refusal(await requestFor(pass, { args: rerouted }), contextOf('lab'));
    expect(err.code).toBe(ErrorCode.StepNotInManifest);
  });

  it('refuses a call at a site the plan does not put it at, and inputs the plan does not route there', async () => {
    const compare = PLAN.find((c) => c.role === 'compare')!;
    expect((await refusal(await requestFor(compare, { org: 'lab' }), contextOf('lab'))).code).toBe(ErrorCode.StepNotInManifest);
    const write = PLAN.find((c) => c.org === 'pharmacy' && c.role === 'write')!;
    // Pharmacy's write reads two messages of the compare step; one is not enough, nor one from elsewhere.
    const fewer = (await requestFor(write)).inputs.slice(1);
    expect((await refusal(await requestFor(write, { inputs: fewer }), contextOf('pharmacy'))).code).toBe(ErrorCode.StepNotInManifest);
  });

  it('refuses the link image where it is allowed only as an analysis image', async () => {
    const blind = PLAN[0]!;
    const err = await refusal(await requestFor(blind), contextOf(blind.org, [asAnalysisImage(LINK_IMAGE)]));
    expect(err.code).toBe(ErrorCode.ImageRoleNotAllowed);
  });
});
