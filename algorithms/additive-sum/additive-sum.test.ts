import { randomInt } from 'node:crypto';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OrgId } from '../../common/ids.ts';
import { removeRunVolumes } from '../../activities/sandbox/run-volume.ts';
import { testDocker, testImages } from '../../test/support/docker-images.ts';
import { countDataset, runTestStep, scratchDir } from '../../test/support/docker-sandbox.ts';

// 2^61 - 1: public, prime, and far above any count the tests use.
const MODULUS_BIG = (1n << 61n) - 1n;
const MODULUS = MODULUS_BIG.toString();
const SITES: OrgId[] = ['north', 'east', 'south'];
const AGGREGATOR = SITES[0]!;

let docker: Docker;
let additiveSum: string;
let probe: string;
let scratch: Awaited<ReturnType<typeof scratchDir>>;
const runIds: string[] = [];

beforeAll(async () => {
  docker = testDocker();
  const images = await testImages(docker, { additiveSum: 'additive-sum', probe: 'test-fixtures/probe' });
  additiveSum = images.additiveSum.digest;
  probe = images.probe.digest;
  scratch = await scratchDir();
});

afterAll(async () => {
  for (const runId of runIds) for (const org of SITES) await removeRunVolumes(docker, { runId, org });
  await scratch?.dispose();
});

function newRun(): string {
  const runId = `test-additive-${randomInt(1e9)}`;
  runIds.push(runId);
  return runId;
}

type Received = Array<{ from: OrgId; content: unknown }>;

async function step(runId: string, org: OrgId, role: string, options: { dataset?: string; received?: Received } = {}) {
  return runTestStep(docker, scratch.dir, {
    image: additiveSum,
    runId,
    org,
    step: `additive-${role}-${org}`,
    participants: SITES,
    args: { role, dataset: 'registry', modulus: MODULUS, aggregator: AGGREGATOR },
    ...(options.dataset ? { datasets: { registry: options.dataset } } : {}),
    ...(options.received ? { inputs: options.received.map((r, seq) => ({ from: r.from, step: 'earlier', seq, content: r.content })) } : {}),
  });
}

async function volumeOf(runId: string, org: OrgId): Promise<Record<string, string>> {
  const peek = await runTestStep(docker, scratch.dir, { image: probe, runId, org, step: 'peek', participants: SITES, args: { action: 'probe' } });
  return (peek.output as { volume: Record<string, string> }).volume;
}

describe('additive-sum', () => {
  it('splits each count into shares, one per other site, sums them and gives the total at the aggregator', async () => {
    const runId = newRun();
    const counts = new Map(SITES.map((org) => [org, BigInt(randomInt(100_000, 1_000_000))]));
    const inbox = new Map<OrgId, Received>(SITES.map((org) => [org, []]));

    for (const org of SITES) {
      const dataset = await countDataset(`${scratch.dir}/${runId}-${org}`, 'registry', `${counts.get(org)}\n`);
      const shared = await step(runId, org, 'share', { dataset });
      expect(shared.exitCode, shared.logTail.join('\n')).toBe(0);
      expect(shared.messages.map((m) => m.to).sort()).toEqual(SITES.filter((o) => o !== org).sort());
      for (const m of shared.messages) {
        const share = BigInt((m.content as { share: string }).share);
        expect(share).toBeLessThan(MODULUS_BIG);
        expect(share).not.toBe(counts.get(org));
        inbox.get(m.to)!.push({ from: org, content: m.content });
      }
    }
    // The share that depends on the count stays in the run volume, readable by the sandbox user only.
    expect(await volumeOf(runId, 'east')).toMatchObject({ 'additive-own-share': '600' });

    const partials: Received = [];
    for (const org of SITES) {
      const summed = await step(runId, org, 'sum', { received: inbox.get(org)! });
      expect(summed.exitCode, summed.logTail.join('\n')).toBe(0);
      if (org === AGGREGATOR) expect(summed.messages).toEqual([]);
      else {
        expect(summed.messages.map((m) => m.to)).toEqual([AGGREGATOR]);
        partials.push({ from: org, content: summed.messages[0]!.content });
      }
    }
    expect(await volumeOf(runId, AGGREGATOR)).toMatchObject({ 'additive-own-partial': '600' });
    // A retried sum step (Temporal retries a step whose worker was lost) finds its own share
    // still in the volume and sends the very same partial.
    const east = SITES.find((o) => o !== AGGREGATOR)!;
    const again = await step(runId, east, 'sum', { received: inbox.get(east)! });
    expect(again.exitCode, again.logTail.join('\n')).toBe(0);
    expect(again.messages.map((m) => m.content)).toEqual([partials.find((p) => p.from === east)!.content]);

    const combined = await step(runId, AGGREGATOR, 'combine', { received: partials });
    expect(combined.exitCode, combined.logTail.join('\n')).toBe(0);
    expect(combined.messages).toEqual([]);
    expect(combined.output).toEqual({ total: [...counts.values()].reduce((a, b) => a + b, 0n).toString() });
    // Likewise a retried combine: the same total.
    expect((await step(runId, AGGREGATOR, 'combine', { received: partials })).output).toEqual(combined.output);
  });

  it('refuses to sum without a share from every other participant, naming who is missing', async () => {
    const runId = newRun();
    const dataset = await countDataset(`${scratch.dir}/${runId}`, 'registry', '123456\n');
    expect((await step(runId, 'east', 'share', { dataset })).exitCode).toBe(0);
    const result = await step(runId, 'east', 'sum', { received: [{ from: 'north', content: { share: '42' } }] });
    expect(result.exitCode).toBe(1);
    expect(result.messages).toEqual([]);
    expect(result.logTail.join('\n')).toMatch(/one share from each other participant; none came from "south"/);
  });

  it('fails clearly on a count that is not a residue, without revealing it', async () => {
    const runId = newRun();
    const bad = `-${randomInt(100_000, 1_000_000)}`;
    const dataset = await countDataset(`${scratch.dir}/${runId}`, 'registry', `${bad}\n`);
    const result = await step(runId, 'south', 'share', { dataset });
    expect(result.exitCode).toBe(1);
    expect(result.messages).toEqual([]);
    expect(result.logTail.join('\n')).toMatch(/Dataset "registry": the count is not a non-negative integer below the modulus/);
    expect(result.logTail.join('\n')).not.toContain(bad.slice(1));
  });
});
