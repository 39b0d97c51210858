/**
 * Envelope seal + open for a 1 KiB body: one recipient (goal: median ≤ 1 ms), and one envelope
 * for 50 recipients sealed and opened by one of them (goal: median ≤ 10 ms).
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { createMemoryReplayGuard, generateOrgKeys, openEnvelope, publicKeysOf, sealEnvelope, type OrgKeys } from '../crypto/index.ts';
import { median, percentile, round } from './stats.ts';

export interface EnvelopeBench {
  name: string;
  iterations: number;
  sealOpenMedianMs: number;
  sealOpenP99Ms: number;
  sealMedianMs: number;
  openMedianMs: number;
  goalMs: number;
  /** One envelope for many recipients: sealed, then opened by one of them (each in turn). */
  manyRecipients: { recipients: number; iterations: number; sealOpenMedianMs: number; sealMedianMs: number; openMedianMs: number; goalMs: number };
}

export async function benchEnvelope(iterations = 2000, manyIterations = 200): Promise<EnvelopeBench> {
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
    manyRecipients: await benchManyRecipients(alice, body, manyIterations),
  };
}

async function benchManyRecipients(sender: OrgKeys, body: Uint8Array, iterations: number, n = 50): Promise<EnvelopeBench['manyRecipients']> {
  const orgs = await Promise.all(Array.from({ length: n }, (_, i) => generateOrgKeys(`r${String(i).padStart(2, '0')}`)));
  const recipients = orgs.map((o) => ({ org: o.org, receiveJwk: publicKeysOf(o).receive.jwk }));
  const to = orgs.map((o) => o.org);
  const senderKey = publicKeysOf(sender).sign.jwk;
  const guard = createMemoryReplayGuard();
  const seal: number[] = [];
  const open: number[] = [];
  for (let i = 0; i < iterations + 20; i++) {
    const t0 = performance.now();
    const envelope = await sealEnvelope({ binding: { runId: 'bench', step: 'many', from: sender.org, to, seq: i }, body, sender, recipients });
    const t1 = performance.now();
    const opener = orgs[i % n]!;
    await openEnvelope(envelope, {
      expect: { runId: 'bench', step: 'many', recipient: opener.org },
      receiveKey: opener.receive.privateJwk,
      senderSigningKey: async () => senderKey,
      replayGuard: guard,
    });
    const t2 = performance.now();
    if (i >= 20) {
      seal.push(t1 - t0);
      open.push(t2 - t1);
    }
  }
  return {
    recipients: n,
    iterations,
    sealOpenMedianMs: round(median(seal.map((s, i) => s + open[i]!)), 3),
    sealMedianMs: round(median(seal), 3),
    openMedianMs: round(median(open), 3),
    goalMs: 10,
  };
}
