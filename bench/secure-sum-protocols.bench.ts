/**
 * The ring secure sum against the additive one at several site counts: wall time from the
 * workflow's start to its sealed result, and the critical path from the steps' own timings.
 * Goal: additive at 10 sites in at most half the ring's wall time. Issue 17's goal: at 10 sites the
 * additive protocol's sites' own work per step (each step's total less its container, wall time as
 * the site measured it) at most 20 ms; reported with its phases, the share spent waiting for the
 * Docker engine, and the process's CPU time per step (an upper bound on the sites' own CPU).
 *
 * Why both: the ring runs n + 1 containers one after another; the additive protocol runs 2n + 1
 * in three rounds, each round's containers in parallel. With every site on one machine they
 * share its cores and its one Docker engine, so the parallel rounds serialise and the wall time
 * cannot show the protocol's advantage. The critical path — each round's slowest container,
 * added up — is what sites on machines of their own would wait for; it is derived, not measured.
 */
import { randomInt } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Client } from '@temporalio/client';
import type Docker from 'dockerode';
import type { ImageRef } from '../activities/types.ts';
import type { OrgId } from '../common/ids.ts';
import { COUNT_DATASET, createFederation, federationSigner, type Federation } from '../demo/federation.ts';
import { asProtocolImage } from '../activities/site-policy.ts';
import { startBenchCluster, type SitesIn } from './site-process-cluster.ts';
import { DEFAULT_MODULUS, openSecureSumResult, startSecureSum, startSecureSumAdditive } from '../researcher/runs.ts';
import type { SecureSumResult } from '../workflows/index.ts';
import { retryFailedRuns, type FailedRun } from './failed-runs.ts';
import { cleanUpAfterBench, type Leftovers } from './run-leftovers.ts';
import { round } from './stats.ts';
import { summarise, timedRun, type RunsSummary, type TimedRun } from './step-rounds.ts';

const PROTOCOLS = { ring: startSecureSum, additive: startSecureSumAdditive } as const;
type Protocol = keyof typeof PROTOCOLS;

// Organisations of their own: with TEMPORAL_ADDRESS the server may be shared, and a site polls
// `site.<org>`.
const REQUESTER = 'bench-sum-researcher';
const siteNames = (n: number): OrgId[] => Array.from({ length: n }, (_, i) => `bench-sum-${String.fromCharCode(97 + i)}`);

/** One size's figures; a protocol whose runs kept failing at this size has none (see failedRuns). */
export interface ProtocolsAtSites {
  sites: number;
  ring?: RunsSummary;
  additive?: RunsSummary;
  /** Median additive wall time over median ring wall time, as measured on this machine. */
  wallRatio?: number;
  /** The same for the critical paths: derived, what separate machines would see. */
  criticalPathRatio?: number;
}

export interface ProtocolsBench {
  name: string;
  goal: { sites: number; ratio: number };
  /**
   * Issue 17: the additive protocol's sites' own work per step beyond the container (wall time,
   * the steps' totalMs − containerMs, as each site measured it) at this many sites.
   */
  siteWorkGoal?: { sites: number; ms: number };
  results: ProtocolsAtSites[];
  /** Where the site workers ran (absent in reports from before they could run apart: this process). */
  sitesIn?: SitesIn;
  /** The machine's 1-minute load average when the benchmark started and ended: others' work included. */
  loadAverage: { start: number; end: number };
  /** Runs that failed and were not timed (each was tried again). */
  failedRuns: FailedRun[];
  /** What the sweep after the runs found and removed (Parley's own cleanup leaves nothing). */
  leftoversRemoved: Leftovers;
}

export async function benchSecureSumProtocols(options: {
  docker: Docker;
  temporalAddress?: string;
  temporalCli?: string;
  images: { ring: ImageRef; additive: ImageRef };
  siteCounts: number[];
  runs: number;
  /**
   * Where the site workers run: all in this process beside the coordinator, as the demo runs them
   * (the default), or each in a process of its own, as deployed.
   */
  sitesIn?: SitesIn;
  /** The protocols to measure (default both); with one, the other's figures and the ratios are absent. */
  protocols?: readonly Protocol[];
  log: (line: string) => void;
}): Promise<ProtocolsBench> {
  const chosen = new Set<Protocol>(options.protocols ?? ['ring', 'additive']);
  const sitesIn = options.sitesIn ?? 'this process';
  const loadAtStart = loadavg()[0]!;
  const orgs = siteNames(Math.max(...options.siteCounts));
  // Six-digit counts, so a wrong total cannot pass by chance.
  const counts = new Map(orgs.map((org) => [org, BigInt(randomInt(100_000, 1_000_000))]));
  const stateDir = await mkdtemp(join(tmpdir(), 'parley-bench-protocols-'));
  const runIds: string[] = [];
  let leftoversRemoved: Leftovers = { containers: 0, volumes: 0 };
  const results: ProtocolsAtSites[] = [];
  const failedRuns: FailedRun[] = [];
  try {
    const federation = await createFederation({ stateDir, counts, requester: REQUESTER });
    const allowedImages = [asProtocolImage(options.images.ring), asProtocolImage(options.images.additive)];
    const cluster = await startBenchCluster({ ...options, sitesIn, federation, allowedImages });
    try {
      const once = (protocol: Protocol, participants: OrgId[]) => retryFailedRuns(
        `${protocol}, ${participants.length} sites`,
        () => {
          const runId = `bench-${protocol}${participants.length}-${randomInt(1e9)}`;
          runIds.push(runId);
          return runId;
        },
        (runId) => runOnce(cluster.client, federation, sitesIn, { protocol, participants, image: options.images[protocol], runId, expected: participants.reduce((sum, org) => sum + counts.get(org)!, 0n) }),
        failedRuns,
        options.log,
      );
      for (const n of options.siteCounts) {
        const participants = orgs.slice(0, n);
        const measured: Record<Protocol, TimedRun[]> = { ring: [], additive: [] };
        // A protocol that keeps failing at this size is given up on here (its failures are in
        // failedRuns) while the other is still measured: one size's failure keeps the rest.
        const gaveUp = new Set<Protocol>();
        for (const protocol of Object.keys(PROTOCOLS) as Protocol[]) if (!chosen.has(protocol)) gaveUp.add(protocol);
        const measure = async (protocol: Protocol, timed: boolean) => {
          if (gaveUp.has(protocol)) return;
          try {
            const run = await once(protocol, participants);
            if (timed) measured[protocol].push(run);
          } catch {
            gaveUp.add(protocol);
          }
        };
        // One warm-up of each at this size (first polls of new task queues, page cache), then
        // alternate, swapping which goes first, so drift in the machine's load hits both alike.
        await measure('ring', false);
        await measure('additive', false);
        for (let i = 0; i < options.runs; i++) {
          for (const protocol of (i % 2 === 0 ? ['ring', 'additive'] : ['additive', 'ring']) as Protocol[]) await measure(protocol, true);
          const line = (p: Protocol) => (!chosen.has(p) ? `${p} not measured` : gaveUp.has(p) ? `${p} given up` : `${p} ${Math.round(measured[p].at(-1)!.wallMs)} ms (critical path ${Math.round(measured[p].at(-1)!.criticalPathMs)}, own work ${Math.round(measured[p].at(-1)!.siteWorkSumMs / measured[p].at(-1)!.activities)} per step)`);
          options.log(`  ${n} sites, run ${i + 1}/${options.runs}: ${line('ring')}, ${line('additive')}`);
        }
        const ring = gaveUp.has('ring') ? undefined : summarise(measured.ring);
        const additive = gaveUp.has('additive') ? undefined : summarise(measured.additive);
        results.push({
          sites: n,
          ...(ring ? { ring } : {}),
          ...(additive ? { additive } : {}),
          ...(ring && additive
            ? {
                wallRatio: round(additive.wall.medianMs / ring.wall.medianMs, 3),
                criticalPathRatio: round(additive.criticalPath.medianMs / ring.criticalPath.medianMs, 3),
              }
            : {}),
        });
      }
    } finally {
      await cluster.shutdown();
    }
  } finally {
    leftoversRemoved = await cleanUpAfterBench(options.docker, runIds, stateDir, options.log);
  }
  return { name: 'secure sum, additive vs ring', sitesIn, goal: { sites: 10, ratio: 0.5 }, siteWorkGoal: { sites: 10, ms: 20 }, loadAverage: { start: round(loadAtStart, 2), end: round(loadavg()[0]!, 2) }, results, failedRuns, leftoversRemoved };
}

/** One run, timed from the start to the sealed result; the total is then opened and checked. */
async function runOnce(
  client: Client,
  federation: Federation,
  sitesIn: SitesIn,
  run: { protocol: Protocol; participants: OrgId[]; image: ImageRef; runId: string; expected: bigint },
): Promise<TimedRun> {
  const input = { participants: run.participants, requester: REQUESTER, dataset: COUNT_DATASET, modulus: DEFAULT_MODULUS, image: run.image, signer: federationSigner(federation) };
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const handle = await PROTOCOLS[run.protocol](client, input, run.runId);
  const result = (await handle.result()) as SecureSumResult;
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  // Both protocols' first participant seals the total (the ring's initiator, the additive aggregator).
  const total = await openSecureSumResult(result, federation.requester, federation.directory, run.participants[0]!);
  if (total !== run.expected) throw new Error(`The ${run.protocol} secure sum over ${run.participants.length} sites gave ${total}, expected ${run.expected}.`);
  // With a process per site, each step's own CPU figure is its site's process alone (the step's
  // work, the SDK's threads and the container's socket while it ran); in this process, only the
  // process's whole CPU bounds the sites' from above.
  const cpuMs = sitesIn === 'a process each'
    ? result.steps.reduce((sum, s) => sum + (s.timings.cpuMs ?? 0), 0)
    : (cpu.user + cpu.system) / 1000;
  return timedRun(wallMs, result.steps, cpuMs);
}
