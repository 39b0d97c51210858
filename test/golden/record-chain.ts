/**
 * Records the golden history of the example chain (examples/chains/cohort-mean.yaml) over three
 * sites with the current workflow code: `npx tsx test/golden/record-chain.ts` (uses
 * TEMPORAL_ADDRESS, else starts a dev server; needs Docker). As with test/golden/record.ts:
 * re-record only for an intentional, incompatible workflow change (README, "Auditing"); it
 * refuses to write a history that holds a site's own figures, that does not replay against the
 * code that made it, or that does not verify.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileAtomically } from '../../common/write-file-atomically.ts';
import { bundleText, exportAuditBundle } from '../../audit/export-bundle.ts';
import { replayHistories } from '../../audit/replay-histories.ts';
import { verifyHistories } from '../../audit/verify-bundle.ts';
import { createFederation, federationSigner, siteDepsOf } from '../../demo/federation.ts';
import { startTemporalDevServer } from '../../provision/temporal-dev-server.ts';
import { startLocalCluster } from '../../demo/local-cluster.ts';
import { createDockerClient } from '../../provision/docker-engine.ts';
import { exampleAllowList, exampleChain } from '../../demo/example-chain.ts';
import { ensureExampleImages } from '../../provision/images.ts';
import { ensureTemporalCli } from '../../provision/temporal-cli.ts';
import { startChain } from '../../researcher/runs.ts';
import { workflowBundle } from '../../workers/coordinator/workflow-bundle.ts';
import { historyText, plaintextFound } from '../support/history-scan.ts';
import { referenceCohort, referenceValues, registryPath, type Condition } from '../support/statistics-steps.ts';

const OUTPUT = fileURLToPath(new URL('./cohort-mean-3.json', import.meta.url));
const LETTERS = ['a', 'b', 'c'] as const;
const SITES = LETTERS.map((l) => `golden-${l}`);
const WORKFLOW_ID = 'golden-cohort-mean-3';

async function run(): Promise<void> {
  const cleanups: Array<() => Promise<unknown>> = [];
  try {
    let address = process.env.TEMPORAL_ADDRESS;
    if (!address) {
      const server = await startTemporalDevServer({ executable: await ensureTemporalCli((line) => console.error(line)) });
      cleanups.unshift(() => server.stop());
      address = server.address;
    }
    const docker = createDockerClient();
    const images = await ensureExampleImages(docker, (line) => console.error(line));
    const chain = await exampleChain(images, SITES);

    const stateDir = await mkdtemp(join(tmpdir(), 'parley-golden-chain-'));
    cleanups.unshift(() => rm(stateDir, { recursive: true, force: true }));
    const files = new Map(SITES.map((org, i) => [org, { patients: registryPath(LETTERS[i]!) }]));
    const federation = await createFederation({ stateDir, counts: new Map(SITES.map((org) => [org, 0n])), requester: 'golden-researcher', files });
    const allowed = exampleAllowList(images);
    const cluster = await startLocalCluster({ temporalAddress: address, sites: federation.sites.map((site) => siteDepsOf(site, federation, docker, allowed)) });
    cleanups.unshift(() => cluster.shutdown());

    const handle = await startChain(cluster.client, { chain: chain, participants: SITES, requester: 'golden-researcher', signer: federationSigner(federation) }, `${WORKFLOW_ID}-${Date.now()}`);
    await handle.result();
    const { bundle, census } = await exportAuditBundle({ client: cluster.client, workflowId: handle.workflowId, keys: { directory: federation.directory, source: 'the federation\'s key directory' } });

    // Each site's own sum and sum of squares: none may be in the history.
    const pre = chain.steps.find((s) => s.id === 'preprocess')!;
    const ana = chain.steps.find((s) => s.id === 'analyse')!;
    if (pre.kind !== 'container' || ana.kind !== 'container') throw new Error('unexpected example chain');
    const secrets: bigint[] = [];
    for (const letter of LETTERS) {
      const { columns, rows } = referenceCohort(await readFile(registryPath(letter), 'utf8'), pre.args.where as unknown as Condition[]);
      const [, sum, sumsq] = referenceValues(columns, rows, ana.args.column as string, ana.args.decimals as number, ana.args.bins as number[]);
      secrets.push(sum!, sumsq!);
    }
    const text = bundleText(bundle);
    const leaked = [...plaintextFound(await historyText(handle), secrets), ...plaintextFound(text, secrets)];
    if (leaked.length > 0) throw new Error(`The chain's history holds a site's own figures (${leaked.length}); not writing it.`);
    const failed = (await replayHistories(bundle.histories.map((h) => ({ file: OUTPUT, ...h })), await workflowBundle())).filter((o) => o.problem);
    if (failed.length > 0) throw new Error(`The fresh chain history does not replay: ${failed[0]!.problem!.detail}`);
    const report = await verifyHistories(bundle.histories, bundle.publicKeys);
    if (report.findings.length > 0) throw new Error(`The fresh chain history does not verify: ${report.findings[0]!.message}`);

    await writeFileAtomically(OUTPUT, text);
    console.error(`Wrote ${OUTPUT}: ${bundle.histories[0]!.history.events.length} events, ${census.envelopes} envelopes, keys of ${census.orgs.join(', ')}.`);
  } finally {
    for (const cleanup of cleanups) await cleanup().catch((err: unknown) => console.error(err));
  }
}

run().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
