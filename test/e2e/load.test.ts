/**
 * Load on real parts (issue 14): 50 ring secure sums and 10 example chains at once on this
 * machine's Temporal server, Docker engine and API, with three site workers each in a process of
 * its own. Every result must be right, nothing of any run may be left behind (containers,
 * volumes, blobs), and the workers' memory must stay flat: what each keeps after a full garbage
 * collection, sampled whenever a run ends, grows no more than a small margin over a warm-up.
 *
 * Every envelope travels as a blob here (a threshold of one byte), so the blob store carries the
 * load too, and "no blob left" means something.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ensureExampleImages } from '../../provision/images.ts';
import { historyText } from '../support/history-scan.ts';
import { runMany, startLoadFederation, type LoadFederation, type RunOutcome } from '../support/load-federation.ts';
import { runLeftovers } from '../support/run-leftovers.ts';
import type { SiteProcessMemory } from '../support/site-worker-processes.ts';
import { testDocker } from '../support/docker-images.ts';
import { testNamespace } from '../support/test-namespace.ts';

const MiB = 1024 * 1024;
const RINGS = 50;
const CHAINS = 10;

let docker: Docker;
let load: LoadFederation;

beforeAll(async () => {
  docker = testDocker();
  const images = await ensureExampleImages(docker, () => {});
  load = await startLoadFederation({ temporalAddress: inject('temporalAddress'), namespace: testNamespace(import.meta.url), docker, images, prefix: 'load', blobThresholdBytes: 1 });
}, 300_000);

afterAll(async () => {
  await load?.close();
});

const sampleAll = () => Promise.all(load.processes.map((p) => p.sample()));
const mib = (bytes: number) => Math.round((bytes / MiB) * 10) / 10;

describe('fifty secure sums and ten chains at once', () => {
  it('gives every run its right result, leaves no container, volume or blob, and keeps each site worker\'s memory flat', async () => {
    // Warm-up: the workers' code paths, the SDK's caches and the API's connections, as a few
    // runs of each kind at once leave them. What a worker keeps after that is the baseline.
    const warm = await runMany(load, { rings: 4, chains: 2 });
    expect(warm.filter((o) => o.problem)).toEqual([]);
    const baseline = await sampleAll();

    // The load: each time a run ends, every worker's retained memory (after a full GC).
    const samples: SiteProcessMemory[][] = [];
    const outcomes = await runMany(load, { rings: RINGS, chains: CHAINS }, async () => {
      samples.push(await sampleAll());
    });
    const after = await sampleAll();

    const wrong = outcomes.filter((o) => o.problem).map((o: RunOutcome) => `${o.runId}: ${o.problem}`);
    expect(wrong).toEqual([]);
    expect(outcomes.length).toBe(RINGS + CHAINS);
    expect(samples.length).toBe(RINGS + CHAINS);

    // The messages went through the blob store: the history holds small envelopes naming their blobs.
    const ring = outcomes.find((o) => o.kind === 'ring')!;
    expect(await historyText(load.client.workflow.getHandle(ring.runId))).toContain('"detached":{"digest"');
    const withBlobs = (await Promise.all(outcomes.map((o) => readdir(load.blobDirOf(o.runId)).then(() => 1, () => 0)))).reduce<number>((a, b) => a + b, 0);
    expect(withBlobs).toBe(RINGS + CHAINS);

    // Nothing left behind: every run's containers and volumes are gone at every site; its blobs
    // go at the first sweep after it ended (retention 0 here).
    for (const o of [...warm, ...outcomes]) expect(await runLeftovers(docker, o.runId), o.runId).toEqual({ containers: 0, volumes: 0 });
    const swept = await load.api.server.sweepBlobs();
    expect(swept).toEqual(expect.arrayContaining(outcomes.map((o) => o.runId)));
    expect(await readdir(join(load.stateDir, 'server', 'blobs')).catch(() => [])).toEqual([]);

    // Flat memory. The V8 heap a worker keeps after a full GC, sampled after each of the 60 runs
    // and once more at the end, against the warm-up's. A worker that kept anything per run
    // (envelopes, volumes, activity contexts, a cache without a bound) would grow with the runs.
    // The margin, 8 MiB, is well above what a worker's kept heap moves by without a leak (about
    // 1 MiB here: V8's compiled code and the SDK's caches settle in the first runs of a kind) and
    // catches any leak of 140 KiB or more per run. RSS is bounded more loosely, 64 MiB over the
    // warm-up's peak: the allocator keeps pages it freed, and two steps at once per site hold
    // their inputs and outputs while they run (each worker's peak, ~230 MiB, was reached in the
    // warm-up here).
    for (const [i, p] of load.processes.entries()) {
      const heap = samples.map((s) => s[i]!.heapUsed);
      const report = `${p.org}: heap after warm-up ${mib(baseline[i]!.heapUsed)} MiB, during ${mib(Math.min(...heap))}–${mib(Math.max(...heap))} MiB, after ${mib(after[i]!.heapUsed)} MiB; peak RSS after warm-up ${mib(baseline[i]!.peakRss)} MiB, at the end ${mib(after[i]!.peakRss)} MiB`;
      process.stderr.write(`${report}\n`);
      expect(after[i]!.heapUsed - baseline[i]!.heapUsed, report).toBeLessThan(8 * MiB);
      expect(Math.max(...heap) - baseline[i]!.heapUsed, report).toBeLessThan(8 * MiB);
      expect(after[i]!.peakRss - baseline[i]!.peakRss, report).toBeLessThan(64 * MiB);
    }
  }, 600_000);
});
