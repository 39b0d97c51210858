/**
 * A site's check of a vertical step's protocol steps (common/vertical.ts): every step it is asked
 * — role, inputs, recipients — is recomputed from the signed chain, so a coordinator that asks a
 * dealer to mask, a holder to send its masked column to the wrong site, or a non-aggregator to
 * release is refused before any container starts.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChainSpec, VerticalStep } from '../common/chain.ts';
import { ErrorCode, type ParleyError } from '../common/errors.ts';
import { MANIFEST_VERSION, type RunManifest } from '../common/run-manifest.ts';
import { VERTICAL_MODULUS, verticalArgs, verticalPlan, verticalSteps } from '../common/vertical.ts';
import { generateOrgKeys, publicKeysOf, signRunManifest, type OrgKeys } from '../crypto/index.ts';
import { checkStep, type CheckContext } from './check-step.ts';
import { fileKeyDirectory, publishPublicKeys } from './key-directory.ts';
import { DEFAULT_MIN_MODULUS, NO_PRIVACY_POLICY, asAnalysisImage, asProtocolImage } from './site-policy.ts';
import type { JsonValue, StepRequest } from './types.ts';

const digest = (c: string) => `sha256:${c.repeat(64)}`;
const LINK = { name: 'parley-test/linked-rows', digest: digest('a') };
const VERTICAL = { name: 'parley/vertical', digest: digest('e') };
const SITES = ['hospital', 'lab', 'pharmacy'];
const COHORT: VerticalStep = {
  kind: 'vertical', id: 'cohort', linked: 'link', image: VERTICAL, modulus: VERTICAL_MODULUS, after: ['link'],
  summary: { value: { at: 'lab', column: 'hba1c', decimals: 1 }, where: [{ at: 'pharmacy', column: 'statin', equals: '1' }, { at: 'hospital', column: 'age', atLeast: 60 }] },
};
const CHAIN: ChainSpec = {
  name: 'vertical',
  steps: [{ kind: 'container', id: 'link', image: LINK, datasets: ['linked'], args: {}, after: [], inputs: [] }, COHORT],
};
const plan = verticalPlan(COHORT, SITES);
const steps = verticalSteps('cohort', plan, SITES);
const args = (role: string) => ({ role, ...verticalArgs(COHORT, plan) }) as { [key: string]: JsonValue };

let dir: string;
let researcher: OrgKeys;
const contextAt = (org: string): CheckContext => ({
  org, workflowId: 'run-1', directory: fileKeyDirectory(dir),
  policy: { collaborations: { study: { requesters: ['uni'], datasets: ['linked'] } }, minSites: 3, minModulus: DEFAULT_MIN_MODULUS, privacy: NO_PRIVACY_POLICY },
  allowedImages: [asAnalysisImage(LINK), asProtocolImage(VERTICAL)],
});

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'parley-check-vertical-'));
  researcher = await generateOrgKeys('uni');
  await publishPublicKeys(dir, publicKeysOf(researcher));
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function requestOf(org: string, step: string, overrides: Partial<StepRequest> = {}): Promise<StepRequest> {
  const now = Date.now();
  const manifest: RunManifest = {
    v: MANIFEST_VERSION, runId: 'run-1', collaboration: 'study', requester: 'uni', participants: SITES,
    plan: { kind: 'chain', chain: CHAIN }, createdAt: new Date(now - 1000).toISOString(), expiresAt: new Date(now + 3_600_000).toISOString(),
  };
  const planned = steps.find((s) => s.step === step && s.org === org);
  return {
    runId: 'run-1', step, org, image: VERTICAL, datasets: [], args: args(planned?.role ?? 'mask'), participants: SITES, requester: 'uni',
    inputs: (planned?.inputs ?? []).map((i) => ({ ...i, envelope: {} as never })), seqStart: 0, timeoutMs: 300_000,
    manifest: await signRunManifest(manifest, researcher.sign.privateJwk), ...overrides,
  };
}

async function refusal(request: StepRequest): Promise<ParleyError> {
  return checkStep(request, contextAt(request.org)).then(() => { throw new Error('the step was allowed'); }, (err: ParleyError) => err);
}

describe('a site checks a vertical step\'s protocol steps against the signed chain', () => {
  it('allows every step of the plan at its site, with exactly the plan\'s recipients, and an output only at the aggregator\'s release', async () => {
    expect(steps.map((s) => `${s.step}@${s.org}`)).toEqual([
      'cohort.vertical.0.deal@hospital', 'cohort.vertical.0.deal@lab', 'cohort.vertical.0.deal@pharmacy',
      'cohort.vertical.1.mask@hospital', 'cohort.vertical.1.mask@pharmacy',
      'cohort.vertical.2.mask@hospital', 'cohort.vertical.2.mask@lab', 'cohort.vertical.2.mask@pharmacy',
      'cohort.vertical.3.share@hospital', 'cohort.vertical.3.share@lab', 'cohort.vertical.3.share@pharmacy',
      'cohort.vertical.4.release@hospital',
    ]);
    for (const s of steps) {
      const permit = await checkStep(await requestOf(s.org, s.step), contextAt(s.org));
      expect(permit.sendTo.sort()).toEqual([...s.sendTo].sort());
      expect(permit.mayOutput).toBe(s.role === 'release');
    }
  });

  it('refuses the lab a round-1 mask step: it deals that round and holds neither filter', async () => {
    const err = await refusal(await requestOf('lab', 'cohort.vertical.1.mask'));
    expect(err.code).toBe(ErrorCode.StepNotInManifest);
  });

  it('refuses a release anywhere but at the aggregator', async () => {
    const err = await refusal(await requestOf('lab', 'cohort.vertical.4.release', { args: args('release') }));
    expect(err.code).toBe(ErrorCode.StepNotInManifest);
  });

  it('refuses a step whose role was swapped, or whose inputs add a message the plan does not route to it', async () => {
    expect((await refusal(await requestOf('pharmacy', 'cohort.vertical.1.mask', { args: args('share') }))).code).toBe(ErrorCode.StepNotInManifest);
    const extra = await requestOf('hospital', 'cohort.vertical.2.mask');
    extra.inputs.push({ fromStep: 'cohort.vertical.1.mask', from: 'lab', envelope: {} as never });
    expect((await refusal(extra)).code).toBe(ErrorCode.StepNotInManifest);
  });
});
