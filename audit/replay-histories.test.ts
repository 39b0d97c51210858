import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { generateOrgKeys, publicKeysOf, sealEnvelope } from '../crypto/index.ts';
import { workflowBundle } from '../workers/coordinator/workflow-bundle.ts';
import { readHistoryFile } from './read-history-file.ts';
import { replayHistories } from './replay-histories.ts';
import { installReplayRuntime } from './replay-runtime.ts';

const RING = fileURLToPath(new URL('../test/golden/secure-sum-ring-3.json', import.meta.url));

const uncaught: unknown[] = [];
const record = (err: unknown) => uncaught.push(err);

beforeAll(() => {
  installReplayRuntime();
  process.on('uncaughtException', record);
});

afterEach(() => {
  process.off('uncaughtException', record);
});

describe('replayHistories', () => {
  it('leaves no promise hook in this thread: promises settled after a replay, WebCrypto\'s included, throw nothing', async () => {
    const outcomes = await replayHistories(await readHistoryFile(RING), await workflowBundle());
    expect(outcomes.map((o) => o.problem)).toEqual([undefined]);

    // Node 24's WebCrypto job promises carry an own `constructor: undefined`; a debug-mode replay
    // worker's `settled` hook, left in this thread, throws on each (audit/replay-worker-options.ts).
    let settle!: (value: number) => void;
    const bare = new Promise<number>((resolve) => (settle = resolve));
    Object.defineProperty(bare, 'constructor', { value: undefined, writable: true, enumerable: true, configurable: true });
    settle(1);
    await bare;
    const [a, b] = await Promise.all([generateOrgKeys('replay-a'), generateOrgKeys('replay-b')]);
    await sealEnvelope({
      binding: { runId: 'replay-test', step: 'step', from: 'replay-a', to: ['replay-b'], seq: 1 },
      body: Buffer.from('{}'),
      sender: a,
      recipients: [{ org: 'replay-b', receiveJwk: publicKeysOf(b).receive.jwk }],
    });
    await new Promise(setImmediate);
    expect(uncaught).toEqual([]);
  });
});
