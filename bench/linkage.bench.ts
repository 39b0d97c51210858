/**
 * The link step end to end (issue 15): a private record linkage of N identifiers per site at 3
 * sites through the chain workflow — Temporal, site workers checking every call, sandboxed
 * parley/link containers, the lists as sealed blobs through the API — from the start of the run
 * to its end. Bytes exchanged: the sealed envelopes' sizes, inline or as blobs, summed over the
 * run's steps. Goal (issue 15): 100k × 3 under 60 s on this machine.
 *
 * The sources: N valid NHS-style numbers each (modulus 11 check digit), half of them common to
 * all three, the rest each site's own.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { randomInt } from 'node:crypto';
import type Docker from 'dockerode';
import { asProtocolImage } from '../activities/site-policy.ts';
import type { ImageRef } from '../activities/types.ts';
import type { ChainResult, LinkStep } from '../common/chain.ts';
import type { OrgId } from '../common/ids.ts';
import { checkDigit } from '../examples/data/vertical/generate.ts';
import { startTemporalDevServer } from '../provision/temporal-dev-server.ts';
import { startChain } from '../researcher/runs.ts';
import { startLinkFederation } from '../test/support/link-federation.ts';
import { cleanUpAfterBench, type Leftovers } from './run-leftovers.ts';
import { round } from './stats.ts';

const SITES: OrgId[] = ['bench-link-a', 'bench-link-b', 'bench-link-c'];
const REQUESTER = 'bench-link-researcher';
export const LINKAGE_GOAL_MS = 60_000;

export interface LinkageResult {
  identifiersPerSite: number;
  intersection: number;
  wallMs: number;
  /** Σ over the run's activities of the sites' container time. */
  containerSumMs: number;
  /** Bytes of sealed envelopes the run's steps sent, in all. */
  bytesExchanged: number;
  goalMs?: number;
}

export interface LinkageBench {
  sites: number;
  results: LinkageResult[];
  loadAverage: { start: number; end: number };
  leftoversRemoved: Leftovers;
}

/** `n` distinct valid identifiers from `start` on (nine digits, then the modulus 11 check digit). */
function identifiers(start: number, n: number): string[] {
  const out: string[] = [];
  for (let k = start; out.length < n; k++) {
    const nine = String(100_000_000 + k);
    const check = checkDigit(nine);
    if (check !== undefined) out.push(`${nine}${check}`);
  }
  return out;
}

async function sources(dir: string, n: number): Promise<Map<OrgId, Record<string, string>>> {
  const common = identifiers(0, n / 2);
  const files = new Map<OrgId, Record<string, string>>();
  for (const [i, org] of SITES.entries()) {
    const own = identifiers(10_000_000 * (i + 1), n - common.length);
    const file = join(dir, `${org}-${n}.csv`);
    await writeFile(file, `patient_id,value\n${[...common, ...own].map((id, k) => `${id},${k % 97}`).join('\n')}\n`);
    files.set(org, { [`people${n}`]: file });
  }
  return files;
}

export async function benchLinkage(options: {
  docker: Docker;
  temporalAddress?: string;
  temporalCli?: string;
  image: ImageRef;
  sizes: number[];
  log: (line: string) => void;
}): Promise<LinkageBench> {
  const loadAtStart = loadavg()[0]!;
  const stateDir = await mkdtemp(join(tmpdir(), 'parley-bench-link-'));
  const runIds: string[] = [];
  const results: LinkageResult[] = [];
  let leftoversRemoved: Leftovers = { containers: 0, volumes: 0 };
  const server = options.temporalAddress ? undefined : await startTemporalDevServer({ executable: options.temporalCli! });
  try {
    const files = new Map<OrgId, Record<string, string>>();
    for (const n of options.sizes) for (const [org, f] of await sources(stateDir, n)) files.set(org, { ...files.get(org), ...f });
    const linked = await startLinkFederation({
      temporalAddress: options.temporalAddress ?? server!.address, docker: options.docker, stateDir, sites: SITES, requester: REQUESTER, files, allowed: [asProtocolImage(options.image)],
    });
    try {
      for (const n of options.sizes) {
        const step: LinkStep = { kind: 'link', id: 'linked', image: options.image, identifier: 'patient_id', sources: SITES.map((at) => ({ at, dataset: `people${n}` })), after: [] };
        const runId = `bench-link-${n}-${randomInt(1e9)}`;
        runIds.push(runId);
        const t0 = performance.now();
        const handle = await startChain(linked.cluster.client, { chain: { name: 'linkage', steps: [step] }, participants: SITES, requester: REQUESTER, stepTimeoutMs: 600_000, signer: linked.signer }, runId);
        const result = (await handle.result()) as ChainResult;
        const wallMs = performance.now() - t0;
        const bytesExchanged = await sealedBytes(handle);
        const r: LinkageResult = {
          identifiersPerSite: n, intersection: n / 2, wallMs: Math.round(wallMs),
          containerSumMs: Math.round(result.steps.reduce((s, x) => s + x.timings.containerMs, 0)), bytesExchanged,
          ...(n === 100_000 ? { goalMs: LINKAGE_GOAL_MS } : {}),
        };
        results.push(r);
        options.log(`  ${n} × ${SITES.length}: ${r.wallMs} ms end to end, Σ containers ${r.containerSumMs} ms, ${round(bytesExchanged / 1e6, 1)} MB exchanged`);
      }
    } finally {
      await linked.stop();
    }
  } finally {
    await server?.stop();
    leftoversRemoved = await cleanUpAfterBench(options.docker, runIds, stateDir, options.log);
  }
  return { sites: SITES.length, results, loadAverage: { start: round(loadAtStart, 2), end: round(loadavg()[0]!, 2) }, leftoversRemoved };
}

/** The sealed envelopes' sizes in the run's activity results: inline ciphertext and blob references' sizes. */
async function sealedBytes(handle: { fetchHistory(): Promise<unknown> }): Promise<number> {
  const { historyToJSON } = await import('@temporalio/common/lib/proto-utils.js');
  const history = JSON.parse(historyToJSON(await handle.fetchHistory() as never)) as { events: Array<{ activityTaskCompletedEventAttributes?: { result?: { payloads?: Array<{ data?: string }> } } }> };
  let bytes = 0;
  for (const event of history.events) {
    for (const payload of event.activityTaskCompletedEventAttributes?.result?.payloads ?? []) {
      let outcome: { envelopes?: Array<Record<string, unknown>> };
      try {
        outcome = JSON.parse(Buffer.from(payload.data ?? '', 'base64').toString('utf8')) as typeof outcome;
      } catch {
        continue; // not a step outcome
      }
      for (const e of outcome.envelopes ?? []) {
        // A body beside its envelope (or, in older histories, a whole envelope as a blob) counts at its blob's size.
        const detached = e.detached as { size?: unknown } | undefined;
        bytes += JSON.stringify(e).length + (typeof detached?.size === 'number' ? detached.size : 0);
        if (e.kind === 'blob' && typeof e.size === 'number') bytes += e.size - JSON.stringify(e).length;
      }
    }
  }
  return bytes;
}

/** The markdown rows of the summary table. */
export function linkageRows(bench: LinkageBench, mark: string): string[] {
  return bench.results.map((r) => `| private record linkage, ${r.identifiersPerSite} identifiers × ${bench.sites} sites (${r.intersection} in all), end to end${mark} | ${r.wallMs} ms, ${round(r.bytesExchanged / 1e6, 1)} MB exchanged | Σ containers ${r.containerSumMs} ms | — | ${r.goalMs ? `< ${r.goalMs / 1000} s ${r.wallMs < r.goalMs ? '✓' : '✗'}` : '—'} |`);
}
