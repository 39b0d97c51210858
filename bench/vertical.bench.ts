/**
 * The vertical regression (issue 15): HbA1c on 5 features spread over three sites, over 10,000
 * linked rows, end to end through real sites, containers and Temporal — from the run's start to
 * the researcher's opened, decoded fit. Goal: under 30 s. The linked rows come from the test
 * fixture that stands in for the link step (algorithms/test-fixtures/linked-rows), so this times
 * the vertical step and that copy, not the linkage; each run is checked against OLS on the join.
 */
import { randomInt } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import type Docker from 'dockerode';
import { ensureAlgorithmImage } from '../algorithms/algorithm-image.ts';
import { asAnalysisImage, asProtocolImage } from '../activities/site-policy.ts';
import type { ChainResult, ChainSpec } from '../common/chain.ts';
import { VERTICAL_MODULUS } from '../common/vertical.ts';
import { createFederation, federationSigner, siteDepsOf } from '../demo/federation.ts';
import { startLocalCluster } from '../demo/local-cluster.ts';
import type { ExampleImages } from '../provision/images.ts';
import { openChainOutputs, startChain } from '../researcher/runs.ts';
import { decodeVerticalResult } from '../researcher/vertical.ts';
import { linkedFixture, olsFit } from '../test/support/vertical-people.ts';
import { median, round } from './stats.ts';

export interface VerticalBench {
  name: string;
  rows: number;
  features: number;
  runs: number;
  wallMedianMs: number;
  wallRunsMs: number[];
  /** Largest |coefficient − OLS on the plaintext join| over the runs. */
  maxCoefficientError: number;
  goalMs: number;
}

const SITES = ['bench-hospital', 'bench-lab', 'bench-pharmacy'];
const [HOSPITAL, LAB, PHARMACY] = SITES as [string, string, string];
const ROWS = 10_000;
const GOAL_MS = 30_000;

export async function benchVertical(options: { docker: Docker; images: ExampleImages; temporalAddress?: string; temporalCli?: string; runs: number; log: (line: string) => void }): Promise<VerticalBench> {
  const stateDir = await mkdtemp(join(tmpdir(), 'parley-bench-vertical-'));
  try {
    const link = await ensureAlgorithmImage(options.docker, { name: 'parley-test/linked-rows', sourceDir: fileURLToPath(new URL('../algorithms/test-fixtures/linked-rows', import.meta.url)), base: options.images.base });
    const linkImage = { name: link.ref, digest: link.digest };
    const people = linkedFixture(ROWS, 7);
    const files = new Map<string, Record<string, string>>();
    for (const [org, part] of [[HOSPITAL, 'hospital'], [LAB, 'lab'], [PHARMACY, 'pharmacy']] as const) {
      const path = join(stateDir, `${org}.csv`);
      await writeFile(path, people.csv[part]!);
      files.set(org, { linked: path });
    }
    const federation = await createFederation({ stateDir, counts: new Map(SITES.map((o) => [o, 0n])), requester: 'bench-researcher', files });
    const allowed = [asProtocolImage(options.images.vertical), asAnalysisImage(linkImage)];
    const cluster = await startLocalCluster({
      ...(options.temporalAddress ? { temporalAddress: options.temporalAddress } : {}),
      ...(options.temporalCli ? { temporalCli: options.temporalCli } : {}),
      sites: federation.sites.map((site) => siteDepsOf(site, federation, options.docker, allowed)),
    });
    const chain: ChainSpec = {
      name: 'vertical-regression',
      steps: [
        { kind: 'container', id: 'link', image: linkImage, datasets: ['linked'], args: { dataset: 'linked', linked: 'link' }, after: [], inputs: [] },
        {
          kind: 'vertical', id: 'regression', linked: 'link', image: options.images.vertical, modulus: VERTICAL_MODULUS, after: ['link'],
          regression: {
            outcome: { at: LAB, column: 'hba1c', decimals: 1 },
            features: [{ at: HOSPITAL, column: 'age' }, { at: HOSPITAL, column: 'sex', equals: 'M' }, { at: HOSPITAL, column: 'diagnosis', equals: 'T2D' }, { at: PHARMACY, column: 'metformin' }, { at: PHARMACY, column: 'statin' }],
          },
        },
      ],
    };
    const ols = olsFit(people.rows.map((p) => [1, p.age, p.sex === 'M' ? 1 : 0, p.diagnosis === 'T2D' ? 1 : 0, Number(p.metformin), Number(p.statin)]), people.rows.map((p) => p.hba1c));
    const walls: number[] = [];
    let maxError = 0;
    try {
      for (let i = 0; i <= options.runs; i++) {
        const started = performance.now();
        const handle = await startChain(cluster.client, { chain, participants: SITES, requester: 'bench-researcher', signer: federationSigner(federation) }, `bench-vertical-${randomInt(1e9)}`);
        const result = (await handle.result()) as ChainResult;
        const [opened] = await openChainOutputs(result, federation.requester, federation.directory);
        const fit = decodeVerticalResult(opened!.content as never);
        const wall = performance.now() - started;
        if (fit.kind !== 'regression') throw new Error('The vertical bench did not get a regression back.');
        maxError = Math.max(maxError, ...fit.coefficients.map((b, k) => Math.abs(b - ols.beta[k]!)));
        // Run 0 warms up the sites' task queues and the page cache.
        if (i > 0) walls.push(wall);
        options.log(`  vertical regression run ${i}${i === 0 ? ' (warm-up)' : ''}: ${Math.round(wall)} ms`);
      }
    } finally {
      await cluster.shutdown();
    }
    return {
      name: `vertical regression, ${ROWS} linked rows × 5 features at 3 sites`, rows: ROWS, features: 5, runs: walls.length,
      wallMedianMs: round(median(walls)), wallRunsMs: walls.map(round), maxCoefficientError: maxError, goalMs: GOAL_MS,
    };
  } finally {
    await rm(stateDir, { recursive: true, force: true });
  }
}
