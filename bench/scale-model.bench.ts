/**
 * PARLEY_BENCH=model: calibrates the scale model (bench/scale-model.ts) from this report's
 * measured benchmarks — the secure-sum protocols, the envelope, the example chain — plus two
 * costs measured here (a sealed secure-sum message's bytes, one X25519 operation), validates it
 * against the one-machine runs, and predicts 3, 10, 50 and 200 sites on separate machines.
 */
import { createPublicKey, diffieHellman, generateKeyPairSync, randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { generateOrgKeys, publicKeysOf, sealEnvelope } from '../crypto/index.ts';
import type { ChainBench } from './chain.bench.ts';
import type { EnvelopeBench } from './envelope.bench.ts';
import {
  additiveRounds, calibrate, chainRounds, containerAloneMs, linkageRounds, ringRounds, runMs,
  validate, type Calibration, type Network, type RoundShape, type Validation,
} from './scale-model.ts';
import type { ProtocolsBench } from './secure-sum-protocols.bench.ts';
import { median, round } from './stats.ts';

export interface ModelPrediction {
  sites: number;
  network: Network;
  ringMs: number;
  additiveMs: number;
  /** additive / ring: the goal is ≤ 0.5 at 10 sites. */
  additiveOverRing: number;
  chainMs?: number;
  /** Linkage of 10k and 100k identifiers per site. */
  linkage10kMs: number;
  linkage100kMs: number;
  /** Bytes the additive sum sends through the central server (n(n − 1) shares, partials, result). */
  additiveBytes: number;
}

export interface ModelBench {
  calibration: Calibration;
  containerAloneMs: number;
  validation: Validation[];
  /** The machine's load while the protocols it was calibrated on ran (others' work included). */
  loadAverage: { start: number; end: number };
  predictions: ModelPrediction[];
  goal: { sites: number; ratio: number };
  /**
   * The fewest sites at which the additive sum's messages, each below the blob threshold and so
   * held in the history twice (the share round's results, the sum round's inputs), pass
   * Temporal's 50 MB history limit.
   */
  historyLimitSites: number;
}

const HISTORY_LIMIT_BYTES = 50 * 1024 * 1024;

const SITES = [3, 10, 50, 200];
/** A regional network (hospitals of one country over the internet) and a site-local one. */
const NETWORKS: Network[] = [{ rttMs: 30, bandwidthMbps: 100 }, { rttMs: 1, bandwidthMbps: 1000 }];

/** Bytes of one sealed secure-sum message as Temporal carries it (JSON), the body a 64-digit share. */
async function messageBytes(): Promise<number> {
  const [a, b] = await Promise.all([generateOrgKeys('site-a'), generateOrgKeys('site-b')]);
  const envelope = await sealEnvelope({
    binding: { runId: 'run-00000000-0000-0000-0000-000000000000', step: 'total.additive.0.share', from: 'site-a', to: ['site-b'], seq: 1 },
    body: Buffer.from(JSON.stringify({ share: '9'.repeat(64) })),
    sender: a,
    recipients: [{ org: 'site-b', receiveJwk: publicKeysOf(b).receive.jwk }],
  });
  return Buffer.byteLength(JSON.stringify(envelope));
}

/** One X25519 scalar multiplication of a received point, its import included (node:crypto). */
function x25519Ms(iterations = 2000): number {
  const { privateKey } = generateKeyPairSync('x25519');
  const points = Array.from({ length: 64 }, () => generateKeyPairSync('x25519').publicKey.export({ format: 'jwk' }).x!);
  const times: number[] = [];
  for (let i = 0; i < iterations + 200; i++) {
    const x = points[i % points.length]!;
    const t0 = performance.now();
    diffieHellman({ privateKey, publicKey: createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x }, format: 'jwk' }) });
    if (i >= 200) times.push(performance.now() - t0);
  }
  return median(times);
}

/** Runs the model over the report's measured benchmarks; throws naming the one to run when one is missing. */
export async function benchModel(report: { cores: number; protocols?: ProtocolsBench; envelope?: EnvelopeBench; chain?: ChainBench }): Promise<ModelBench> {
  if (!report.protocols || !report.envelope) {
    throw new Error(`The scale model needs the ${report.protocols ? 'envelope' : 'protocols'} benchmark's results, and the report has none. Run PARLEY_BENCH=envelope,protocols,model npm run bench once.`);
  }
  randomBytes(1); // warm the CSPRNG before timing anything
  const measured = {
    cores: report.cores,
    protocols: report.protocols,
    envelope: report.envelope,
    messageBytes: await messageBytes(),
    x25519Ms: x25519Ms(),
  };
  const calibration = calibrate(measured);
  const bytes = (rounds: RoundShape[]) => rounds.reduce((s, r) => s + r.bytesIn + r.bytesOut, 0);
  const predictions: ModelPrediction[] = [];
  for (const network of NETWORKS) {
    for (const sites of SITES) {
      const where = { kind: 'separate machines', network } as const;
      const ringMs = runMs(calibration, ringRounds(sites, calibration.messageBytes), where);
      const additive = additiveRounds(sites, calibration.messageBytes);
      const additiveMs = runMs(calibration, additive, where);
      predictions.push({
        sites,
        network,
        ringMs: round(ringMs, 0),
        additiveMs: round(additiveMs, 0),
        additiveOverRing: round(additiveMs / ringMs, 3),
        ...(report.chain ? { chainMs: round(runMs(calibration, chainRounds(report.chain, calibration, sites), where), 0) } : {}),
        linkage10kMs: round(runMs(calibration, linkageRounds(sites, 10_000, calibration), where), 0),
        linkage100kMs: round(runMs(calibration, linkageRounds(sites, 100_000, calibration), where), 0),
        additiveBytes: bytes(additive),
      });
    }
  }
  return {
    calibration: Object.fromEntries(Object.entries(calibration).map(([k, v]) => [k, round(v, 3)])) as unknown as Calibration,
    containerAloneMs: round(containerAloneMs(calibration), 1),
    validation: validate(measured, report.chain),
    loadAverage: report.protocols.loadAverage,
    predictions,
    goal: { sites: 10, ratio: 0.5 },
    historyLimitSites: historyLimitSites((n) => bytes(additiveRounds(n, calibration.messageBytes))),
  };
}

function historyLimitSites(bytesAt: (n: number) => number): number {
  let n = 3;
  while (bytesAt(n) < HISTORY_LIMIT_BYTES) n++;
  return n;
}

const s = (ms: number) => (ms >= 10_000 ? `${round(ms / 1000, 1)} s` : `${round(ms, 0)} ms`);
const mb = (b: number) => `${round(b / 1e6, 2)} MB`;

/** The summary table's row: the goal, predicted. */
export function modelRow(m: ModelBench, mark: string): string {
  const p = m.predictions.find((x) => x.sites === m.goal.sites && x.network === m.predictions[0]!.network);
  if (!p) return '';
  const ok = p.additiveOverRing <= m.goal.ratio;
  return `| secure sum, ${p.sites} sites on separate machines (${p.network.rttMs} ms RTT, ${p.network.bandwidthMbps} Mbit/s), additive vs ring: predicted by the scale model${mark} | ${s(p.additiveMs)} | ${s(p.ringMs)} (ring) | ${p.additiveOverRing} | ≤ ${m.goal.ratio} ${ok ? '✓' : '✗'} |`;
}

export function modelMarkdown(m: ModelBench, mark: string): string[] {
  const c = m.calibration;
  const worst = Math.max(0, ...m.validation.filter((v) => !v.calibrated).map((v) => Math.abs(v.error)));
  return [
    `## Scale model: N sites on separate machines${mark}`,
    '',
    'Predicted, not measured (bench/scale-model.ts). A run is a sequence of rounds; a round is one container per site, each site\'s own work (its check, one envelope cost per envelope sealed or opened), Temporal\'s round trips, and on separate machines one network round trip plus the round\'s bytes through the central server\'s link. Calibrated from this report\'s measurements:',
    '',
    `- a container alone, create to removal: ${m.containerAloneMs} ms (the ring's, whose containers run one at a time); on this ${c.cores}-core machine a round of k at once takes ${c.containerOverlapMs} + ${c.containerSerialMs}·k ms (fitted on the additive runs: the shared cores and Docker engine do about ${round((100 * c.containerSerialMs) / m.containerAloneMs, 0)} % of each container one at a time);`,
    `- a site's own work per activity ${c.siteWorkBaseMs} ms plus ${c.envelopeMs} ms per envelope sealed or opened; on one machine the k sites' work shares the ${c.cores} cores (× max(1, k/${c.cores}));`,
    `- Temporal's cost per round on loopback ${c.temporalRoundMs} ms; a sealed secure-sum message ${c.messageBytes} bytes; one X25519 operation with its key import ${c.x25519Ms} ms (measured here, node:crypto).`,
    '',
    `Validation: the model's prediction for this machine (contended, loopback) against the measured medians, each site count predicted by the model fitted on the other site counts only (leave one out; "calibration" marks a run the model was fitted on). The machine's 1-minute load average was ${m.loadAverage.start} when the protocol runs began and ${m.loadAverage.end} when they ended: other engineers' work shares this machine, and the model knows only its own runs' load.`,
    '',
    '| run | predicted, one machine | measured | error |',
    '| --- | --- | --- | --- |',
    ...m.validation.map((v) => `| ${v.what}${v.calibrated ? ' (calibration)' : ''} | ${v.predictedMs} ms | ${v.measuredMs} ms | ${v.error > 0 ? '+' : ''}${round(v.error * 100, 1)} % |`),
    '',
    `Largest held-out error: ${round(worst * 100, 1)} % (goal: within 20 % ${worst <= 0.2 ? '✓' : '✗'}). The chain's containers are its own measured ones (de-contended for separate machines), so its row checks the rest of the model, not the container fit.`,
    '',
    ...m.predictions.flatMap((p, i) => (i === 0 || p.network !== m.predictions[i - 1]!.network
      ? ['', `Predicted on separate machines, ${p.network.rttMs} ms RTT, ${p.network.bandwidthMbps} Mbit/s at the central server:`, '', '| sites | ring | additive | additive/ring | chain cohort-mean | linkage, 10k ids/site | linkage, 100k ids/site | additive: bytes via the server |', '| --- | --- | --- | --- | --- | --- | --- | --- |']
      : []).concat(`| ${p.sites} | ${s(p.ringMs)} | ${s(p.additiveMs)} | ${p.additiveOverRing} | ${p.chainMs === undefined ? '—' : s(p.chainMs)} | ${s(p.linkage10kMs)} | ${s(p.linkage100kMs)} | ${mb(p.additiveBytes)} |`)),
    '',
    `Left out: stragglers (a round waits for its slowest site; the model takes every site as fast as one alone), the central server's own per-activity cost as n grows (Temporal schedules n activities per round), and Temporal's limits: a workflow history is capped at 50 MB, which the additive sum's n(n − 1) shares (${m.calibration.messageBytes} bytes each, below the blob threshold, so inline) pass from ${m.historyLimitSites} sites: past that the shares would have to travel as blobs (activities/blob-messages.ts) or the sum be split.`,
    '',
  ];
}
