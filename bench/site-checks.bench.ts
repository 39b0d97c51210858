/**
 * What a site's own checks cost per step (goal: under 5 ms, beside containers of ~400 ms):
 * verifying the signed manifest and checking the step against it and the site's policy
 * (activities/check-step.ts), and admitting a cohort to the release ledger
 * (activities/release-ledger.ts: HMAC of each row, symmetric differences against earlier
 * cohorts of the dataset, an fsynced append), on the example chain's shapes.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { ChainSpec } from '../common/chain.ts';
import { MANIFEST_VERSION } from '../common/run-manifest.ts';
import { generateOrgKeys, publicKeysOf, signRunManifest } from '../crypto/index.ts';
import { checkStep } from '../activities/check-step.ts';
import { fileKeyDirectory, publishPublicKeys } from '../activities/key-directory.ts';
import { openReleaseLedger } from '../activities/release-ledger.ts';
import { DEFAULT_MIN_MODULUS, NO_PRIVACY_POLICY, asAnalysisImage, asProtocolImage } from '../activities/site-policy.ts';
import type { StepRequest } from '../activities/types.ts';
import { median, percentile, round } from './stats.ts';

export interface SiteChecksBench {
  iterations: number;
  checkStepMedianMs: number;
  checkStepP99Ms: number;
  /** A cohort of `cohortRows` rows against `earlierCohorts` earlier ones of its dataset. */
  ledgerAdmitMedianMs: number;
  ledgerAdmitP99Ms: number;
  cohortRows: number;
  earlierCohorts: number;
  goalMs: number;
}

const digest = (c: string) => `sha256:${c.repeat(64)}`;

export async function benchSiteChecks(iterations = 500, cohortRows = 300, earlierCohorts = 50): Promise<SiteChecksBench> {
  const dir = await mkdtemp(join(tmpdir(), 'parley-bench-checks-'));
  try {
    const researcher = await generateOrgKeys('lab');
    await publishPublicKeys(join(dir, 'keys'), publicKeysOf(researcher));
    const images = { preprocess: { name: 'parley/preprocess', digest: digest('a') }, analyse: { name: 'parley/analyse', digest: digest('b') }, additive: { name: 'parley/additive-sum', digest: digest('c') } };
    const where = [{ column: 'age', op: '>=', value: 40 }, { column: 'diagnosis', op: 'startsWith', value: 'E11' }];
    const chain: ChainSpec = {
      name: 'cohort-mean',
      steps: [
        { kind: 'container', id: 'preprocess', image: images.preprocess, datasets: ['patients'], args: { where }, after: [], inputs: [] },
        { kind: 'container', id: 'analyse', image: images.analyse, datasets: [], args: { column: 'lab_value', bins: [4, 6, 8, 10, 12] }, after: ['preprocess'], inputs: [] },
        { kind: 'secure-sum', id: 'total', protocol: 'additive', image: images.additive, values: 'statistics.json', modulus: DEFAULT_MIN_MODULUS.toString(), after: ['analyse'] },
      ],
    };
    const participants = ['north', 'south', 'east'];
    const now = Date.now();
    const manifest = await signRunManifest({
      v: MANIFEST_VERSION, runId: 'run-bench', collaboration: 'study', requester: 'lab', participants,
      plan: { kind: 'chain', chain }, createdAt: new Date(now).toISOString(), expiresAt: new Date(now + 3_600_000).toISOString(),
    }, researcher.sign.privateJwk);
    const request: StepRequest = {
      runId: 'run-bench', step: 'total.additive.1.sum', org: 'north', image: images.additive, datasets: [],
      args: { role: 'sum', aggregator: 'north', modulus: DEFAULT_MIN_MODULUS.toString(), source: { volume: 'statistics.json' } },
      participants, requester: 'lab', seqStart: 0, timeoutMs: 300_000, manifest,
      inputs: ['south', 'east'].map((from) => ({ envelope: {} as never, fromStep: 'total.additive.0.share', from })),
    };
    const context = {
      org: 'north', workflowId: 'run-bench', directory: fileKeyDirectory(join(dir, 'keys')),
      policy: { collaborations: { study: { requesters: ['lab'], datasets: ['patients'] } }, minSites: 3, minModulus: DEFAULT_MIN_MODULUS, privacy: NO_PRIVACY_POLICY },
      allowedImages: [asAnalysisImage(images.preprocess), asAnalysisImage(images.analyse), asProtocolImage(images.additive)],
    };
    const checks: number[] = [];
    for (let i = 0; i < iterations + 50; i++) {
      const t0 = performance.now();
      await checkStep(request, context);
      if (i >= 50) checks.push(performance.now() - t0);
    }

    // A ledger holding earlier cohorts of the dataset, each 20 rows away from the next (all allowed).
    const ledger = openReleaseLedger(join(dir, 'releases'));
    const cohort = (k: number) => Array.from({ length: cohortRows }, (_, i) => `P${String(k * 20 + i).padStart(6, '0')}`);
    for (let k = 0; k < earlierCohorts; k++) await ledger.admit({ runId: `run-${k}`, step: 'preprocess', org: 'north', dataset: 'patients', rows: cohort(k), threshold: 10 });
    const admits: number[] = [];
    for (let k = earlierCohorts; k < earlierCohorts + 50; k++) {
      const t0 = performance.now();
      await ledger.admit({ runId: `run-${k}`, step: 'preprocess', org: 'north', dataset: 'patients', rows: cohort(k), threshold: 10 });
      admits.push(performance.now() - t0);
    }
    return {
      iterations,
      checkStepMedianMs: round(median(checks), 3), checkStepP99Ms: round(percentile(checks, 99), 3),
      ledgerAdmitMedianMs: round(median(admits), 3), ledgerAdmitP99Ms: round(percentile(admits, 99), 3),
      cohortRows, earlierCohorts: earlierCohorts + 50, goalMs: 5,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
