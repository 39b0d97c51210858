import { describe, expect, it } from 'vitest';
import {
  additiveRounds, calibrate, chainRounds, containerAloneMs, linkageRounds, ringRounds, roundMs, runMs, validate,
  type Calibration, type RoundShape,
} from './scale-model.ts';
import type { ChainBench } from './chain.bench.ts';
import type { ProtocolsBench } from './secure-sum-protocols.bench.ts';
import type { RunsSummary } from './step-rounds.ts';

const c: Calibration = {
  cores: 2, containerOverlapMs: 100, containerSerialMs: 300, siteWorkBaseMs: 20, envelopeMs: 1,
  temporalRoundMs: 40, messageBytes: 2000, x25519Ms: 0.05,
};
const one = { kind: 'one machine' } as const;
const wan = { kind: 'separate machines', network: { rttMs: 30, bandwidthMbps: 100 } } as const;

/** A protocols benchmark as `c` would have measured it (critical path: containers only). */
function measuredBy(cal: Calibration, sites: number[]): ProtocolsBench {
  const summary = (rounds: RoundShape[], siteWorkPerActivityMs: number): RunsSummary => {
    const wall = runMs(cal, rounds, one);
    const criticalPath = rounds.reduce((s, r) => s + cal.containerOverlapMs + cal.containerSerialMs * r.sites, 0);
    const spread = (ms: number) => ({ medianMs: ms, minMs: ms, maxMs: ms });
    return {
      runs: 3, rounds: rounds.length, activities: rounds.reduce((s, r) => s + r.sites, 0), wall: spread(wall),
      criticalPath: spread(criticalPath), containerSum: spread(criticalPath),
      overheadPerRoundMs: (wall - criticalPath) / rounds.length, siteWorkPerActivityMs,
    } as RunsSummary;
  };
  return {
    name: 'secure sum, additive vs ring', goal: { sites: 10, ratio: 0.5 }, loadAverage: { start: 0, end: 0 }, failedRuns: [],
    leftoversRemoved: { containers: 0, volumes: 0 },
    results: sites.map((n) => ({
      sites: n,
      ring: summary(ringRounds(n, cal.messageBytes), cal.siteWorkBaseMs + 2 * cal.envelopeMs),
      additive: summary(additiveRounds(n, cal.messageBytes), 0),
    })),
  };
}

describe('the scale model', () => {
  it('adds a round\'s container alone, the site\'s work, Temporal, one RTT and its bytes at the server\'s bandwidth on separate machines', () => {
    const r: RoundShape = { step: 's', sites: 10, envelopes: 9, bytesIn: 1_000_000, bytesOut: 250_000 };
    // 400 container + (20 + 9) work + 40 Temporal + 30 RTT + 8 Mbit / 100 Mbit/s = 80 ms
    expect(roundMs(c, r, wan)).toBeCloseTo(400 + 29 + 40 + 30 + 80, 9);
  });

  it('makes a round of k sites on one machine share its engine and cores: a + b·k, and the work × k / cores', () => {
    const r: RoundShape = { step: 's', sites: 10, envelopes: 9, bytesIn: 1e9, bytesOut: 1e9 };
    expect(roundMs(c, r, one)).toBeCloseTo(100 + 300 * 10 + 29 * 5 + 40, 9);
    expect(roundMs(c, { ...r, sites: 1 }, one)).toBeCloseTo(400 + 29 + 40, 9);
  });

  it('gives the ring n + 1 rounds of one site and the additive sum three rounds carrying n(n − 1) shares', () => {
    expect(ringRounds(10, 2000)).toHaveLength(11);
    expect(ringRounds(10, 2000).every((r) => r.sites === 1 && r.envelopes === 2)).toBe(true);
    const [share, sum, combine] = additiveRounds(10, 2000);
    expect([share!.sites, sum!.sites, combine!.sites]).toEqual([10, 10, 1]);
    expect(share!.bytesIn).toBe(10 * 9 * 2000);
    expect(sum!.bytesOut).toBe(10 * 9 * 2000);
    expect([share!.envelopes, sum!.envelopes, combine!.envelopes]).toEqual([9, 10, 10]);
  });

  it('blinds every list at every site in the linkage: n rounds of m X25519 operations, then one to intersect', () => {
    const rounds = linkageRounds(3, 10_000, c);
    expect(rounds).toHaveLength(4);
    expect(rounds.slice(0, 3).every((r) => r.cpuMs === 10_000 * 0.05 && r.bytesIn === 3 * 10_000 * 32)).toBe(true);
    expect(rounds[3]!.bytesOut).toBe(3 * 3 * 10_000 * 32);
  });

  it('recovers the costs it was given from the runs they would produce', () => {
    const fitted = calibrate({ cores: 2, protocols: measuredBy(c, [3, 5, 10]), envelope: { sealMedianMs: 0.8, openMedianMs: 1.2 }, messageBytes: 2000, x25519Ms: 0.05 });
    for (const [key, value] of Object.entries(c)) expect(fitted[key as keyof Calibration]).toBeCloseTo(value, 6);
    expect(containerAloneMs(fitted)).toBeCloseTo(400, 6);
  });

  it('fits on some site counts only, and predicts the others from them', () => {
    const bench = measuredBy(c, [3, 5, 10]);
    bench.results[2]!.additive!.criticalPath.medianMs += 1000; // a 10-site run the model does not follow
    const measured = { cores: 2, protocols: bench, envelope: { sealMedianMs: 1, openMedianMs: 1 }, messageBytes: 2000, x25519Ms: 0.05 };
    expect(calibrate(measured, [3, 5]).containerSerialMs).toBeCloseTo(300, 6);
    expect(calibrate(measured).containerSerialMs).toBeGreaterThan(300);
  });

  it('validates each site count with the model fitted on the others (leave one out)', () => {
    const bench = measuredBy(c, [3, 5, 10]);
    bench.results[2]!.additive!.wall.medianMs *= 1.25; // the 10-site additive run measured 25 % slower
    const rows = validate({ cores: 2, protocols: bench, envelope: { sealMedianMs: 1, openMedianMs: 1 }, messageBytes: 2000, x25519Ms: 0.05 });
    expect(rows.map((r) => r.what)).toEqual(['ring, 3 sites', 'additive, 3 sites', 'ring, 5 sites', 'additive, 5 sites', 'ring, 10 sites', 'additive, 10 sites']);
    expect(rows.every((r) => !r.calibrated)).toBe(true);
    expect(rows.find((r) => r.what === 'additive, 10 sites')!.error).toBeCloseTo(1 / 1.25 - 1, 3);
    expect(rows.filter((r) => r.what !== 'additive, 10 sites').every((r) => r.error === 0)).toBe(true);
  });

  it('says it was fitted on the run it checks when only one site count was measured', () => {
    const rows = validate({ cores: 2, protocols: measuredBy(c, [3]), envelope: { sealMedianMs: 1, openMedianMs: 1 }, messageBytes: 2000, x25519Ms: 0.05 });
    expect(rows.map((r) => [r.what, r.calibrated, r.error])).toEqual([['ring, 3 sites', true, 0], ['additive, 3 sites', true, 0]]);
  });

  it('takes a chain\'s containers as measured on one machine and alone on separate machines', () => {
    const chain = {
      chain: 'cohort-mean', sites: 3,
      rounds: [{ step: 'preprocess', sites: 3, slowestContainerMedianMs: 1000 }, { step: 'total.additive.2.combine', sites: 1, slowestContainerMedianMs: 400 }],
      summary: { wall: { medianMs: 0 } },
    } as unknown as ChainBench;
    const rounds = chainRounds(chain, c);
    expect(rounds[0]!.containerAloneMs).toBeCloseTo(1000 * 400 / 1000, 9);
    expect(rounds[1]!.envelopes).toBe(3);
    expect(roundMs(c, rounds[0]!, one)).toBeCloseTo(1000 + 20 * 1.5 + 40, 9);
    expect(chainRounds(chain, c, 50)[0]!.sites).toBe(50);
  });
});
