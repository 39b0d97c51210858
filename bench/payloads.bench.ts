/**
 * Big messages through a step (issue 14): one site's step sends one message of 1, 10 and 100 MiB
 * to another site, whose step reads it; site workers each in a process of their own, the API's
 * blob store between them. Per size: the run's wall time, the sending and the receiving step's
 * own times, the bytes of the run's Temporal history per step, and the workers' peak memory.
 * Goals: 100 MiB through a step in under 10 s, under 64 KiB of history per step.
 */
import { performance } from 'node:perf_hooks';
import proto from '@temporalio/proto';
import type Docker from 'dockerode';
import { asAnalysisImage } from '../activities/site-policy.ts';
import type { ChainResult, ContainerStep } from '../common/chain.ts';
import type { ExampleImages } from '../provision/images.ts';
import { openChainOutputs } from '../researcher/runs.ts';
import { testImages } from '../test/support/docker-images.ts';
import { startLoadFederation } from '../test/support/load-federation.ts';
import { round } from './stats.ts';

const MiB = 1024 * 1024;

export interface PayloadResult {
  mib: number;
  /** Start of the run to its result, both steps. */
  wallMs: number;
  /** The sending step at its site: the container, then sealing and storing the message. */
  sendStepMs: number;
  /** The receiving step at its site: fetching, checking and opening the message, then the container. */
  receiveStepMs: number;
  /** Where the steps' time went (StepOutcome timings): the sender's container and sealing (with storing), the receiver's opening (with fetching) and container. */
  split?: { sendContainerMs: number; sealMs: number; openMs: number; receiveContainerMs: number };
  /** The whole history's bytes (protobuf, as Temporal stores it), and per step of the chain. */
  historyBytes: number;
  historyBytesPerStep: number;
  /** The most any site worker process held (RSS) by the end of this size, and the sender's and receiver's. */
  senderPeakRssMiB: number;
  receiverPeakRssMiB: number;
}

/** A size whose run failed: what it failed with, so the report says so rather than the bench stopping. */
export interface PayloadFailure {
  mib: number;
  failed: string;
}

export interface PayloadsBench {
  results: Array<PayloadResult | PayloadFailure>;
  /** Each worker's RSS before the first run. */
  idleRssMiB: number[];
  goals: { wallMs: number; historyBytesPerStep: number };
}

export async function benchPayloads(options: { temporalAddress: string; namespace: string; docker: Docker; images: ExampleImages; sizesMiB: number[]; log: (line: string) => void }): Promise<PayloadsBench> {
  const { probe } = await testImages(options.docker, { probe: 'test-fixtures/probe' });
  const image = { name: probe.ref, digest: probe.digest };
  const load = await startLoadFederation({
    temporalAddress: options.temporalAddress, namespace: options.namespace, docker: options.docker, images: options.images,
    prefix: `bench-payloads-${process.pid}`, moreImages: [asAnalysisImage(image, true)],
    // The probe builds its message as a JavaScript string and JSON-encodes it to send: a 100 MiB
    // message is ~300 MiB inside its container, which the default 512 MiB limit fits only at times
    // (one run in three failed at once, killed by V8's heap limit). The worker is what is measured.
    containerLimits: { memoryBytes: 1024 * MiB },
  });
  try {
    const [sender, , receiver] = load.sites as [string, string, string];
    const idle = await Promise.all(load.processes.map((p) => p.sample(false)));
    const results: Array<PayloadResult | PayloadFailure> = [];
    // Smallest first: each process's peak RSS is a high-water mark, so the peak after a size is that size's.
    for (const mib of [...options.sizesMiB].sort((a, b) => a - b)) {
      const step = (id: string, args: ContainerStep['args'], at: string, inputs: string[] = []): ContainerStep => ({ kind: 'container', id, image, datasets: [], args, after: [], inputs, at: [at] });
      const chain = { name: 'payload', steps: [step('send', { action: 'bulk', to: [receiver], count: 1, bytes: mib * MiB, seed: `bench-${mib}` }, sender), step('read', { action: 'digest' }, receiver, ['send'])] };
      const runId = `bench-payload-${mib}-${process.pid}-${Date.now()}`;
      const t0 = performance.now();
      const handle = await load.startChainRun(runId, chain);
      let result: ChainResult;
      try {
        result = (await handle.result()) as ChainResult;
      } catch (err) {
        const failed = err instanceof Error ? `${err.message}${err.cause instanceof Error ? `: ${err.cause.message}` : ''}` : String(err);
        options.log(`  ${mib} MiB: the run failed (${failed})`);
        results.push({ mib, failed });
        continue;
      }
      const wallMs = performance.now() - t0;
      const read = (await openChainOutputs(result, load.federation.requester, load.federation.directory)).find((o) => o.step === 'read');
      const got = (read?.content as { inputs?: Array<{ length: number }> } | undefined)?.inputs?.[0]?.length;
      if (got !== mib * MiB) throw new Error(`the ${mib} MiB message arrived as ${got} characters`);
      const history = await handle.fetchHistory();
      const historyBytes = proto.temporal.api.history.v1.History.encode(history).finish().length;
      const [send, receive] = ['send', 'read'].map((id) => result.steps.find((s) => s.step === id)!.timings);
      const peaks = await Promise.all(load.processes.map((p) => p.sample(false)));
      const row: PayloadResult = {
        mib, wallMs: round(wallMs, 1), sendStepMs: send!.totalMs, receiveStepMs: receive!.totalMs,
        split: { sendContainerMs: send!.containerMs, sealMs: send!.sealMs, openMs: receive!.openMs, receiveContainerMs: receive!.containerMs },
        historyBytes, historyBytesPerStep: Math.round(historyBytes / chain.steps.length),
        senderPeakRssMiB: round(peaks[0]!.peakRss / MiB, 1), receiverPeakRssMiB: round(peaks[2]!.peakRss / MiB, 1),
      };
      options.log(`  ${mib} MiB: ${row.wallMs} ms (send step ${row.sendStepMs} ms: container ${row.split!.sendContainerMs}, seal and store ${row.split!.sealMs}; receive step ${row.receiveStepMs} ms: fetch and open ${row.split!.openMs}, container ${row.split!.receiveContainerMs}), history ${row.historyBytesPerStep} B/step, peak RSS sender ${row.senderPeakRssMiB} MiB, receiver ${row.receiverPeakRssMiB} MiB`);
      results.push(row);
      await load.api.server.sweepBlobs();
    }
    return { results, idleRssMiB: idle.map((m) => round(m.rss / MiB, 1)), goals: { wallMs: 10_000, historyBytesPerStep: 64 * 1024 } };
  } finally {
    await load.close();
  }
}

/** The report's rows: one per size. */
export function payloadsRows(bench: PayloadsBench, mark: string): string[] {
  const goal = (ok: boolean) => (ok ? '✓' : '✗');
  return bench.results.map((r) => {
    if ('failed' in r) return `| a step sending ${r.mib} MiB to another site, which reads it${mark} | failed: ${r.failed.replace(/\|/g, '/')} | — | — | ${r.mib === 100 ? `< ${bench.goals.wallMs / 1000} s ✗` : '—'} |`;
    const ok = r.mib < 100 || (r.wallMs <= bench.goals.wallMs && r.historyBytesPerStep <= bench.goals.historyBytesPerStep);
    // Results kept from before the split was measured have none.
    const send = r.split ? `: container ${r.split.sendContainerMs} ms, seal and store ${r.split.sealMs} ms` : '';
    const receive = r.split ? `: fetch and open ${r.split.openMs} ms, container ${r.split.receiveContainerMs} ms` : '';
    return `| a step sending ${r.mib} MiB to another site, which reads it: run wall time (send step ${r.sendStepMs} ms${send}; receive step ${r.receiveStepMs} ms${receive}); history ${r.historyBytesPerStep} B per step; peak worker RSS ${r.senderPeakRssMiB} MiB sender, ${r.receiverPeakRssMiB} MiB receiver${mark} | ${r.wallMs} ms | — | — | ${r.mib === 100 ? `< ${bench.goals.wallMs / 1000} s, < 64 KiB/step ${goal(ok)}` : '—'} |`;
  });
}
