import { randomInt } from 'node:crypto';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OrgId } from '../../common/ids.ts';
import { removeRunVolumes } from '../../activities/sandbox/run-volume.ts';
import { testDocker, testImages } from '../../test/support/docker-images.ts';
import { countDataset, runTestStep, scratchDir } from '../../test/support/docker-sandbox.ts';

// 2^61 - 1: public, prime, and far above any count the tests use.
const MODULUS = ((1n << 61n) - 1n).toString();
const SITES: OrgId[] = ['north', 'east', 'south'];

let docker: Docker;
let secureSum: string;
let probe: string;
let scratch: Awaited<ReturnType<typeof scratchDir>>;
const runIds: string[] = [];

beforeAll(async () => {
  docker = testDocker();
  const images = await testImages(docker, { secureSum: 'secure-sum', probe: 'test-fixtures/probe' });
  secureSum = images.secureSum.digest;
  probe = images.probe.digest;
  scratch = await scratchDir();
});

afterAll(async () => {
  for (const runId of runIds) for (const org of SITES) await removeRunVolumes(docker, { runId, org });
  await scratch?.dispose();
});

function newRun(): string {
  const runId = `test-ring-${randomInt(1e9)}`;
  runIds.push(runId);
  return runId;
}

/** One ring step at `org`, given the partial the previous site sent (if any). */
async function ringStep(runId: string, org: OrgId, args: Record<string, unknown>, dataset: string | undefined, partialFrom?: { org: OrgId; content: unknown }) {
  return runTestStep(docker, scratch.dir, {
    image: secureSum,
    runId,
    org,
    step: `ring-${args.role}-${org}`,
    participants: SITES,
    args: { dataset: 'registry', modulus: MODULUS, ...args },
    ...(dataset ? { datasets: { registry: dataset } } : {}),
    ...(partialFrom ? { inputs: [{ from: partialFrom.org, step: 'previous', seq: 0, content: partialFrom.content }] } : {}),
  });
}

describe('secure-sum (ring)', () => {
  it('gives a + b + c over three sites, each step a sandboxed container, and keeps the mask in the run volume until the run ends (a retried finish still finds it)', async () => {
    const runId = newRun();
    const counts = new Map(SITES.map((org) => [org, BigInt(randomInt(100_000, 1_000_000))]));
    const data = new Map<OrgId, string>();
    for (const org of SITES) data.set(org, await countDataset(`${scratch.dir}/${runId}-${org}`, 'registry', `${counts.get(org)}\n`));

    const start = await ringStep(runId, 'north', { role: 'start', next: 'east' }, data.get('north'));
    expect(start.exitCode, start.logTail.join('\n')).toBe(0);
    expect(start.messages).toHaveLength(1);
    expect(start.messages[0]!.to).toBe('east');
    // Masked: what leaves north is not north's count.
    expect((start.messages[0]!.content as { partial: string }).partial).not.toBe(counts.get('north')!.toString());

    // Between start and finish the mask sits in north's run volume, readable by the sandbox user only.
    const peek = await runTestStep(docker, scratch.dir, { image: probe, runId, org: 'north', step: 'peek', participants: SITES, args: { action: 'probe' } });
    expect((peek.output as { volume: Record<string, string> }).volume).toMatchObject({ 'ring-mask': '600' });

    const add1 = await ringStep(runId, 'east', { role: 'add', next: 'south' }, data.get('east'), { org: 'north', content: start.messages[0]!.content });
    expect(add1.messages.map((m) => m.to)).toEqual(['south']);
    const add2 = await ringStep(runId, 'south', { role: 'add', next: 'north' }, data.get('south'), { org: 'east', content: add1.messages[0]!.content });
    expect(add2.messages.map((m) => m.to)).toEqual(['north']);
    const finish = await ringStep(runId, 'north', { role: 'finish' }, undefined, { org: 'south', content: add2.messages[0]!.content });

    expect(finish.exitCode, finish.logTail.join('\n')).toBe(0);
    expect(finish.messages).toEqual([]);
    expect(finish.output).toEqual({ total: [...counts.values()].reduce((a, b) => a + b, 0n).toString() });
    // A retried finish (Temporal retries a step whose worker was lost) still finds the mask and
    // gives the same total; the mask goes with the run volume when the site ends the run.
    const again = await ringStep(runId, 'north', { role: 'finish' }, undefined, { org: 'south', content: add2.messages[0]!.content });
    expect(again.output).toEqual(finish.output);
  });

  it.each([
    ['negative', '-735191'],
    ['not an integer', '4127.5'],
    ['not below the modulus', '98765432109876543210'],
    ['not a number', 'six hundred'],
  ])('fails clearly on a count that is %s, without revealing it', async (_, bad) => {
    const runId = newRun();
    const dataset = await countDataset(`${scratch.dir}/${runId}`, 'registry', `${bad}\n`);
    const result = await ringStep(runId, 'north', { role: 'start', next: 'east' }, dataset);
    expect(result.exitCode).toBe(1);
    expect(result.messages).toEqual([]);
    expect(result.logTail.join('\n')).toMatch(/Dataset "registry": the count is not a non-negative integer below the modulus/);
    expect(result.logTail.join('\n')).not.toContain(bad.replace(/^-/, '').slice(0, 5));
  });

  it('refuses to finish a ring this site did not start', async () => {
    const runId = newRun();
    const result = await ringStep(runId, 'north', { role: 'finish' }, undefined, { org: 'south', content: { partial: '12345' } });
    expect(result.exitCode).toBe(1);
    expect(result.output).toBeUndefined();
    expect(result.logTail.join('\n')).toMatch(/ring mask is missing from the run volume/);
  });
});
