/**
 * The scale model: predicts the wall time of a run with N sites on separate machines, from the
 * per-step costs measured on this one machine (`npm run bench`), and checks itself against the
 * one-machine runs it did not calibrate on.
 *
 * A run is a sequence of rounds; a round is one step at k sites at once, and the next round waits
 * for the slowest. A round costs
 *
 *   container(k) + siteWork(k, envelopes) + temporalRound + network(bytes)
 *
 * - container: one container, create to removal. On one machine the k containers of a round share
 *   its cores and its one Docker engine; measured, a round of k takes about a + b·k (b is the part
 *   the shared machine does one container at a time, a the part that overlaps). Fitted on the
 *   ring (k = 1, containers one after another) and the additive sum (k = n). On separate
 *   machines every site has its own, so each container takes a + b, whatever k.
 * - siteWork: the site worker's own work beyond its container (check, open, seal): s0 plus one
 *   envelope cost per envelope it seals or opens. On one machine the k workers' CPU work shares
 *   the cores: × max(1, k / cores). Alone: × 1.
 * - temporalRound: Temporal's round trips (workflow task, activity dispatch and completion),
 *   measured on loopback as the ring's per-round overhead minus its site work.
 * - network: on separate machines, `rttsPerRound` round trips (the activity's dispatch reaches the
 *   site's long-poll, its completion returns: one RTT) and the round's bytes through the central
 *   server's link, the larger of what it receives and what it sends, at the link's bandwidth
 *   (every message is relayed by the server: DESIGN.md, "the central server relays ciphertext").
 *   On one machine the network is loopback and counted as part of temporalRound.
 *
 * The protocols, as rounds:
 * - ring secure sum (workflows/secure-sum-ring.ts): n + 1 rounds of one site each; each opens one
 *   envelope and seals one.
 * - additive secure sum (workflows/secure-sum-additive.ts; Cramer, Damgård, Nielsen, "Secure
 *   Multiparty Computation and Secret Sharing", 2015): `share` at all n (each seals n − 1 shares:
 *   n(n − 1) messages), `sum` at all n (each opens n − 1, seals one partial for P₁), `combine` at
 *   P₁ (opens n − 1, seals one for the requester).
 * - a chain: its rounds as measured (bench/chain.bench.ts), each round's container de-contended
 *   with the fitted a + b·k; its secure-sum rounds carry the additive protocol's envelopes.
 * - linkage (issue 15), Diffie–Hellman PSI (Meadows 1986; Huberman, Franklin, Hogg, EC 1999),
 *   X25519 scalar multiplication (RFC 7748): each site blinds its m identifiers, then the lists
 *   travel a ring so that every site blinds every list once — n rounds of n sites in parallel,
 *   each doing m X25519 operations and sending one list of m × 32 bytes — and one round in which
 *   every site receives the n fully blinded lists and intersects them.
 */
import type { ChainBench } from './chain.bench.ts';
import type { ProtocolsBench } from './secure-sum-protocols.bench.ts';
import { median, round as roundTo } from './stats.ts';

/** The per-step costs the model is calibrated with, all measured (see calibrate). */
export interface Calibration {
  /** Cores of the machine the costs were measured on. */
  cores: number;
  /** Container, create to removal, on one machine with k at once: containerOverlapMs + containerSerialMs · k. */
  containerOverlapMs: number;
  containerSerialMs: number;
  /** A site's own work per activity beyond its container and its envelopes. */
  siteWorkBaseMs: number;
  /** Sealing or opening one envelope (mean of the two medians). */
  envelopeMs: number;
  /** Temporal's cost per round on loopback, beyond containers and the sites' work. */
  temporalRoundMs: number;
  /** One sealed secure-sum message on the wire, in bytes. */
  messageBytes: number;
  /** One X25519 scalar multiplication (with its key import), for the linkage. */
  x25519Ms: number;
}

/** The network between the sites and the central server. */
export interface Network {
  rttMs: number;
  /** The central server's link, in megabits per second. */
  bandwidthMbps: number;
  /** Round trips per round on the critical path (default 1: dispatch one way, completion back). */
  rttsPerRound?: number;
}

/** One round: a step at `sites` sites at once. */
export interface RoundShape {
  step: string;
  sites: number;
  /** Envelopes the busiest site seals plus opens in this round. */
  envelopes: number;
  /** Bytes the central server receives and sends in this round. */
  bytesIn: number;
  bytesOut: number;
  /** CPU work at each site beyond the envelopes (the linkage's blinding), in ms, measured alone. */
  cpuMs?: number;
  /** The round's container alone (create to removal), when it is not the secure-sum container. */
  containerAloneMs?: number;
}

export type Where = { kind: 'one machine' } | { kind: 'separate machines'; network: Network };

/** One container alone: what each site's own machine takes for it. */
export function containerAloneMs(c: Calibration): number {
  return c.containerOverlapMs + c.containerSerialMs;
}

/** A round's time, in ms, on one machine (contended, loopback) or on separate machines. */
export function roundMs(c: Calibration, r: RoundShape, where: Where): number {
  const alone = r.containerAloneMs ?? containerAloneMs(c);
  const ownWork = c.siteWorkBaseMs + c.envelopeMs * r.envelopes + (r.cpuMs ?? 0);
  if (where.kind === 'one machine') {
    // The k containers and the k workers' CPU work share this machine's cores and engine.
    const container = alone * ((c.containerOverlapMs + c.containerSerialMs * r.sites) / containerAloneMs(c));
    return container + ownWork * Math.max(1, r.sites / c.cores) + c.temporalRoundMs;
  }
  const { rttMs, bandwidthMbps, rttsPerRound = 1 } = where.network;
  const transferMs = (Math.max(r.bytesIn, r.bytesOut) * 8) / (bandwidthMbps * 1000);
  return alone + ownWork + c.temporalRoundMs + rttsPerRound * rttMs + transferMs;
}

/** A run's predicted wall time: the sum of its rounds. */
export function runMs(c: Calibration, rounds: readonly RoundShape[], where: Where): number {
  return rounds.reduce((sum, r) => sum + roundMs(c, r, where), 0);
}

/** The ring secure sum over n sites: n + 1 rounds of one site. */
export function ringRounds(n: number, messageBytes: number): RoundShape[] {
  return Array.from({ length: n + 1 }, (_, i) => ({ step: `ring.${i}`, sites: 1, envelopes: 2, bytesIn: messageBytes, bytesOut: i === 0 ? 0 : messageBytes }));
}

/** The additive secure sum over n sites: share (n(n − 1) messages), sum, combine. */
export function additiveRounds(n: number, messageBytes: number): RoundShape[] {
  const shares = n * (n - 1) * messageBytes;
  return [
    { step: 'additive.0.share', sites: n, envelopes: n - 1, bytesIn: shares, bytesOut: 0 },
    { step: 'additive.1.sum', sites: n, envelopes: n, bytesIn: n * messageBytes, bytesOut: shares },
    { step: 'additive.2.combine', sites: 1, envelopes: n, bytesIn: messageBytes, bytesOut: (n - 1) * messageBytes },
  ];
}

/** DH-PSI linkage of m identifiers per site over n sites (see the module doc). */
export function linkageRounds(n: number, m: number, c: Calibration): RoundShape[] {
  const list = m * 32;
  const blinding = Array.from({ length: n }, (_, i) => ({
    step: `link.blind.${i}`, sites: n, envelopes: 2, bytesIn: n * list, bytesOut: i === 0 ? 0 : n * list, cpuMs: m * c.x25519Ms,
  }));
  // Every site receives all n fully blinded lists; intersecting them is hashing, not curve work.
  return [...blinding, { step: 'link.intersect', sites: n, envelopes: n, bytesIn: 0, bytesOut: n * n * list }];
}

/**
 * A chain's rounds from its benchmark: each round's container alone is its measured slowest
 * container de-contended by the fitted a + b·k; secure-sum rounds carry the additive envelopes.
 */
export function chainRounds(bench: ChainBench, c: Calibration, n = bench.sites): RoundShape[] {
  const additive = new Map(additiveRounds(n, c.messageBytes).map((r) => [r.step, r]));
  return bench.rounds.map((r) => {
    const contention = (c.containerOverlapMs + c.containerSerialMs * r.sites) / containerAloneMs(c);
    const shape = [...additive.entries()].find(([step]) => r.step.endsWith(step))?.[1];
    const sites = r.sites === bench.sites ? n : r.sites;
    return {
      step: r.step, sites, envelopes: shape?.envelopes ?? 0, bytesIn: shape?.bytesIn ?? 0, bytesOut: shape?.bytesOut ?? 0,
      containerAloneMs: r.slowestContainerMedianMs / contention,
    };
  });
}

/** What calibrate needs from `npm run bench`'s report. */
export interface Measured {
  cores: number;
  protocols: ProtocolsBench;
  envelope: { sealMedianMs: number; openMedianMs: number };
  messageBytes: number;
  x25519Ms: number;
}

/**
 * Fits the calibration from the secure-sum protocols' runs at the site counts in `sites` (default
 * all): the container alone is the median over the ring's runs of its critical path per round
 * (its containers run one at a time); the contention is the least-squares slope b of the
 * additive sum's parallel rounds, a + b·k with a + b fixed to the container alone; the site's own
 * work and Temporal's per-round cost are medians over the ring's runs. Throws when no site count
 * has both protocols.
 */
export function calibrate(m: Measured, sites?: readonly number[]): Calibration {
  const used = m.protocols.results.filter((r) => r.ring && r.additive && (sites === undefined || sites.includes(r.sites)));
  if (used.length === 0) {
    throw new Error('The scale model is calibrated from the secure-sum protocols benchmark, and the report has no site count at which both protocols ran. Run PARLEY_BENCH=protocols,model npm run bench.');
  }
  const envelopeMs = (m.envelope.sealMedianMs + m.envelope.openMedianMs) / 2;
  const rings = used.map((r) => r.ring!);
  const alone = median(rings.map((ring) => ring.criticalPath.medianMs / ring.rounds));
  // The additive sum's critical path: two rounds of n containers at once, then one alone; each
  // parallel round takes alone + b·(n − 1). Least squares through the origin in (n − 1).
  const points = used.map((r) => ({ x: r.sites - 1, y: (r.additive!.criticalPath.medianMs - alone) / 2 - alone }));
  const serial = points.reduce((s, p) => s + p.x * p.y, 0) / points.reduce((s, p) => s + p.x * p.x, 0);
  return {
    cores: m.cores,
    containerOverlapMs: alone - serial,
    containerSerialMs: serial,
    siteWorkBaseMs: median(rings.map((ring) => ring.siteWorkPerActivityMs - 2 * envelopeMs)),
    envelopeMs,
    temporalRoundMs: median(rings.map((ring) => ring.overheadPerRoundMs - ring.siteWorkPerActivityMs)),
    messageBytes: m.messageBytes,
    x25519Ms: m.x25519Ms,
  };
}

/** A prediction beside what was measured. */
export interface Validation {
  what: string;
  predictedMs: number;
  measuredMs: number;
  /** (predicted − measured) / measured. */
  error: number;
  /** True when the model predicting this run was fitted on it (so it checks the arithmetic only). */
  calibrated: boolean;
}

/**
 * The model's one-machine predictions against every measured run, each site count's runs
 * predicted by a model calibrated on the other site counts only (leave one out), and the chain
 * (never used to calibrate) by the model calibrated on all of them.
 */
export function validate(m: Measured, chain?: ChainBench): Validation[] {
  const one: Where = { kind: 'one machine' };
  const row = (c: Calibration, what: string, rounds: RoundShape[], measuredMs: number): Validation => {
    const predictedMs = runMs(c, rounds, one);
    return { what, predictedMs: roundTo(predictedMs, 0), measuredMs, error: roundTo((predictedMs - measuredMs) / measuredMs, 3), calibrated: false };
  };
  const measured = m.protocols.results.filter((r) => r.ring && r.additive);
  const rows: Validation[] = [];
  for (const r of measured) {
    const others = measured.filter((o) => o.sites !== r.sites).map((o) => o.sites);
    // With one site count only, the model can only be checked on the runs it was fitted on.
    const c = calibrate(m, others.length > 0 ? others : [r.sites]);
    const calibrated = others.length === 0;
    rows.push({ ...row(c, `ring, ${r.sites} sites`, ringRounds(r.sites, c.messageBytes), r.ring!.wall.medianMs), calibrated });
    rows.push({ ...row(c, `additive, ${r.sites} sites`, additiveRounds(r.sites, c.messageBytes), r.additive!.wall.medianMs), calibrated });
  }
  if (chain) {
    const c = calibrate(m);
    rows.push(row(c, `chain ${chain.chain}, ${chain.sites} sites`, chainRounds(chain, c), chain.summary.wall.medianMs));
  }
  return rows;
}
