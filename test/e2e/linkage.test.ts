/**
 * The `link` chain step end to end on real parts — the Temporal dev server, site workers with
 * their own keys checking every call against the signed manifest, sandboxed parley/link
 * containers — over the vertical example sources (examples/data/vertical). A reader step after
 * the link releases each site's linked rows to the researcher, so the test can hold them against
 * the ground truth; a real chain would analyse them instead, and release only an aggregate.
 */
import { randomInt } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { ChainResult, ChainStep, LinkStep } from '../../common/chain.ts';
import { asAnalysisImage, asProtocolImage } from '../../activities/site-policy.ts';
import type { ImageRef } from '../../activities/types.ts';
import type { Federation } from '../../demo/federation.ts';
import type { LocalCluster } from '../../demo/local-cluster.ts';
import { openChainOutputs, startChain } from '../../researcher/runs.ts';
import { hashToCurve } from '../../algorithms/link/psi.js';
import { SOURCES, VERTICAL_DATA_DIR, joinedTruth, validRows, type Source } from '../../examples/data/vertical/generate.ts';
import { testDocker, testImages } from '../support/docker-images.ts';
import { historyText } from '../support/history-scan.ts';
import { startLinkFederation, type LinkFederation } from '../support/link-federation.ts';
import { runLeftovers } from '../support/run-leftovers.ts';
import { testNamespace } from '../support/test-namespace.ts';

// Names of their own: test files share one Temporal server, and a site polls `site.<org>`.
const ORG: Record<Source, string> = { hospital: 'link-hospital', lab: 'link-lab', pharmacy: 'link-pharmacy' };
const SITES = SOURCES.map((s) => ORG[s]);
const REQUESTER = 'link-researcher';

let docker: Docker;
let stateDir: string;
let federation: Federation;
let cluster: LocalCluster;
let linked: LinkFederation;
let link: ImageRef;
let reader: ImageRef;
let texts: Record<Source, string>;

beforeAll(async () => {
  docker = testDocker();
  const images = await testImages(docker, { link: 'link', reader: 'test-fixtures/volume-reader' });
  link = { name: images.link.ref, digest: images.link.digest };
  reader = { name: images.reader.ref, digest: images.reader.digest };
  texts = Object.fromEntries(await Promise.all(SOURCES.map(async (s) => [s, await readFile(join(VERTICAL_DATA_DIR, `${s}.csv`), 'utf8')] as const))) as Record<Source, string>;
  stateDir = await mkdtemp(join(tmpdir(), 'parley-linkage-test-'));
  // A lab whose people are none of the others', for the refusal.
  const stranger = join(stateDir, 'stranger.csv');
  await writeFile(stranger, texts.lab.split('\n').map((line, i) => (i === 0 || line === '' ? line : `0${line.slice(1)}`)).join('\n'));
  const files = new Map(SOURCES.map((s) => [ORG[s], { [s]: join(VERTICAL_DATA_DIR, `${s}.csv`), ...(s === 'lab' ? { stranger } : {}) }] as const));
  // The lists are megabytes: they travel as sealed blobs through the API's store.
  linked = await startLinkFederation({
    temporalAddress: inject('temporalAddress'), namespace: testNamespace(import.meta.url), docker, stateDir,
    sites: SITES, requester: REQUESTER, files, allowed: [asProtocolImage(link), asAnalysisImage(reader, true)],
  });
  ({ federation, cluster } = linked);
}, 300_000);

afterAll(async () => {
  await linked?.stop();
  if (stateDir) await rm(stateDir, { recursive: true, force: true });
});

function linkStep(lab = 'lab'): LinkStep {
  return {
    kind: 'link', id: 'linked', image: link, identifier: 'patient_id',
    sources: SOURCES.map((s) => ({ at: ORG[s], dataset: s === 'lab' ? lab : s })), after: [],
  };
}

function run(steps: ChainStep[]) {
  const runId = `test-link-${randomInt(1e9)}`;
  const input = { chain: { name: 'linkage', steps }, participants: SITES, requester: REQUESTER, stepTimeoutMs: 300_000, signer: linked.signer };
  return { runId, handle: startChain(cluster.client, input, runId) };
}

describe('link step (multi-party DH PSI) through the chain workflow', () => {
  it('leaves every site its rows of the intersection in one common order, as the ground truth joins them, with no identifier or hash of one in the history', async () => {
    const { runId, handle } = run([
      linkStep(),
      { kind: 'container', id: 'read', image: reader, datasets: [], args: { files: ['linked.rows.csv', 'linked.json', 'linked.psi-key'] }, after: ['linked'], inputs: [] },
    ]);
    const started = await handle;
    const result = (await started.result()) as ChainResult;
    // 3 blind, 2 + 1 pass, 1 compare, 2 + 1 write, then the readers.
    expect(result.steps.filter((s) => s.chainStep === 'linked').map((s) => s.step).sort()).toEqual([
      'linked.link.0.blind', 'linked.link.0.blind', 'linked.link.0.blind', 'linked.link.1.pass', 'linked.link.1.pass', 'linked.link.2.pass',
      'linked.link.3.compare', 'linked.link.4.write', 'linked.link.4.write', 'linked.link.5.write',
    ]);
    const opened = await openChainOutputs(result, federation.requester, federation.directory);
    const linked = Object.fromEntries(SOURCES.map((s) => {
      const out = opened.find((o) => o.org === ORG[s])!.content as Record<string, { mode: string; text: string } | null>;
      expect(out['linked.rows.csv']!.mode).toBe('600');
      const header = texts[s].split('\n')[0]!.split(',').slice(1);
      expect(JSON.parse(out['linked.json']!.text)).toMatchObject({ dataset: s, columns: header });
      return [s, out['linked.rows.csv']!.text.trimEnd().split('\n').slice(1)];
    })) as Record<Source, string[]>;
    const truth = joinedTruth(texts);
    const joined = linked.hospital.map((_, k) => SOURCES.map((s) => linked[s][k]).join('|')).sort();
    expect(joined).toEqual(truth.map((t) => SOURCES.map((s) => t.cells[s]!.join(',')).join('|')).sort());

    // The history: ciphertext and ids. No identifier of any source, and no hash of one.
    const history = await historyText(started);
    // The large lists travelled as blobs beside small envelopes.
    expect(history).toContain('"detached":{"digest"');
    const ids = new Set(SOURCES.flatMap((s) => [...validRows(texts[s]).keys()]));
    expect((history.match(/[0-9]{10}/g) ?? []).filter((d) => ids.has(d))).toEqual([]);
    const hashes = hashToCurve([...ids].map((id) => Buffer.from(id)));
    const hexes = new Set(hashes.map((p) => p.toString('hex')));
    expect((history.match(/[0-9a-f]{64}/g) ?? []).filter((h) => hexes.has(h))).toEqual([]);
    for (const p of hashes.slice(0, 300)) expect(history.includes(p.toString('base64').slice(0, 40))).toBe(false);
    expect(await runLeftovers(docker, runId)).toEqual({ containers: 0, volumes: 0 });
  }, 600_000);

  it('refuses when one source shares nobody with the others: the empty intersection is below the threshold, and nothing reaches the researcher', async () => {
    const { runId, handle } = run([linkStep('stranger')]);
    const err = await (await handle).result().then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const cause = (err as WorkflowFailedError).cause as { cause?: { type?: string; message: string } };
    expect(cause.cause?.type).toBe('ERR_STEP_FAILED');
    expect(cause.cause?.message).toContain(`Step "linked.link.3.compare" failed at site "${ORG.hospital}"`);
    expect(await runLeftovers(docker, runId)).toEqual({ containers: 0, volumes: 0 });
  }, 600_000);
});
