/**
 * Records the golden histories of the ring and the additive secure sum (three sites each) with
 * the current workflow code: `npx tsx test/golden/record.ts` (uses TEMPORAL_ADDRESS, else starts a dev server; needs
 * Docker). Re-record only when a workflow change is intentionally incompatible with past runs —
 * see the README's "Auditing" section. Refuses to write a history that holds any count or the
 * total, or that does not replay against the code that just made it.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fileKeyDirectory } from '../../activities/key-directory.ts';
import { writeFileAtomically } from '../../common/write-file-atomically.ts';
import { bundleText, exportAuditBundle } from '../../audit/export-bundle.ts';
import { replayHistories } from '../../audit/replay-histories.ts';
import { startTemporalDevServer } from '../../provision/temporal-dev-server.ts';
import { ensureTemporalCli } from '../../provision/temporal-cli.ts';
import { workflowBundle } from '../../workers/coordinator/workflow-bundle.ts';
import { startRingFederation } from '../support/audit-ring-run.ts';
import { historyText, plaintextFound } from '../support/history-scan.ts';

const GOLDEN_DIR = fileURLToPath(new URL('.', import.meta.url));
const RUNS = [
  { workflowId: 'golden-secure-sum-ring-3', protocol: 'ring', file: 'secure-sum-ring-3.json' },
  { workflowId: 'golden-secure-sum-additive-3', protocol: 'additive', file: 'secure-sum-additive-3.json' },
] as const;

async function run(): Promise<void> {
  let stopServer = async () => {};
  let address = process.env.TEMPORAL_ADDRESS;
  if (!address) {
    const server = await startTemporalDevServer({ executable: await ensureTemporalCli((line) => console.error(line)) });
    stopServer = () => server.stop();
    address = server.address;
  }
  const ring = await startRingFederation(address).catch(async (err: unknown) => {
    await stopServer();
    throw err;
  });
  try {
    // Both are recorded before either is written: a partial set of golden files never lands.
    const recorded: Array<{ file: string; text: string; summary: string }> = [];
    for (const { workflowId, protocol, file } of RUNS) {
      const output = join(GOLDEN_DIR, file);
      const run = await ring.run(workflowId, protocol);
      const { bundle, census } = await exportAuditBundle({
        client: ring.cluster.client,
        workflowId: run.workflowId,
        keys: { directory: fileKeyDirectory(ring.federation.directoryDir), source: 'the federation\'s key directory' },
      });
      const text = bundleText(bundle);
      const leaked = [...plaintextFound(await historyText(run.handle), run.secrets), ...plaintextFound(text, run.secrets)];
      if (leaked.length > 0) throw new Error(`The ${protocol} history holds plaintext (${leaked.length} value(s)); not writing it.`);
      const sources = bundle.histories.map((h) => ({ file: output, ...h }));
      const failed = (await replayHistories(sources, await workflowBundle())).filter((o) => o.problem);
      if (failed.length > 0) throw new Error(`The fresh ${protocol} history does not replay: ${failed[0]!.problem!.detail}`);
      recorded.push({ file: output, text, summary: `${bundle.histories[0]!.history.events.length} events, ${census.envelopes} envelopes, keys of ${census.orgs.join(', ')}` });
    }
    for (const { file, text, summary } of recorded) {
      await writeFileAtomically(file, text);
      console.error(`Wrote ${file}: ${summary}.`);
    }
  } finally {
    await ring.shutdown();
    await stopServer();
  }
}

run().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
