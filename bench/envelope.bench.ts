/** Envelope seal + open for a 1 KiB body, one recipient (goal: median ≤ 1 ms). */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { createMemoryReplayGuard, generateOrgKeys, openEnvelope, publicKeysOf, sealEnvelope } from '../crypto/index.ts';
import { median, percentile, round } from './stats.ts';

export interface EnvelopeBench {
  name: string;
  iterations: number;
  sealOpenMedianMs: number;
  sealOpenP99Ms: number;
  sealMedianMs: number;
  openMedianMs: number;
  goalMs: number;
}

export async function benchEnvelope(iterations = 2000): Promise<EnvelopeBench> {
  const alice = await generateOrgKeys('alice');
  const bob = await generateOrgKeys('bob');
  const bobPublic = publicKeysOf(bob);
  const alicePublic = publicKeysOf(alice);
  const body = randomBytes(1024);
  const guard = createMemoryReplayGuard();
  const seal: number[] = [];
  const open: number[] = [];
  for (let i = 0; i < iterations + 200; i++) {
    const t0 = performance.now();
    const envelope = await sealEnvelope({
      binding: { runId: 'bench', step: 'step', from: 'alice', to: ['bob'], seq: i },
      body,
      sender: alice,
      recipients: [{ org: 'bob', receiveJwk: bobPublic.receive.jwk }],
    });
    const t1 = performance.now();
    await openEnvelope(envelope, {
      expect: { runId: 'bench', step: 'step', recipient: 'bob' },
      receiveKey: bob.receive.privateJwk,
      senderSigningKey: async () => alicePublic.sign.jwk,
      replayGuard: guard,
    });
    const t2 = performance.now();
    if (i >= 200) {
      // the first 200 warm the JIT and key import caches
      seal.push(t1 - t0);
      open.push(t2 - t1);
    }
  }
  const both = seal.map((s, i) => s + open[i]!);
  return {
    name: 'envelope seal+open, 1 KiB, one recipient',
    iterations,
    sealOpenMedianMs: round(median(both), 3),
    sealOpenP99Ms: round(percentile(both, 99), 3),
    sealMedianMs: round(median(seal), 3),
    openMedianMs: round(median(open), 3),
    goalMs: 1,
  };
}
