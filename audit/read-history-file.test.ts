import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isParleyError } from '../common/errors.ts';
import { readHistoryFile } from './read-history-file.ts';

const GOLDEN = fileURLToPath(new URL('../test/golden/secure-sum-ring-3.json', import.meta.url));
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'parley-history-file-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function refusal(name: string, text: string): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, text);
  const err = await readHistoryFile(file).catch((e: unknown) => e);
  expect(isParleyError(err, 'ERR_INVALID_INPUT')).toBe(true);
  return (err as Error).message;
}

describe('reading a history file', () => {
  it('reads a Parley bundle with the workflow and run ids it recorded', async () => {
    const [source, ...rest] = await readHistoryFile(GOLDEN);
    expect(rest).toEqual([]);
    expect(source).toMatchObject({ workflowId: 'golden-secure-sum-ring-3', runId: expect.any(String) });
    expect(source!.history.events.length).toBeGreaterThan(10);
  });

  it('reads a plain `temporal workflow show -o json` history under the workflow id its file is named after', async () => {
    const [bundled] = await readHistoryFile(GOLDEN);
    const file = join(dir, 'secure-sum-abc.json');
    await writeFile(file, JSON.stringify(bundled!.history));
    expect(await readHistoryFile(file)).toEqual([{ file, workflowId: 'secure-sum-abc', history: bundled!.history }]);
    expect((await readHistoryFile(file, 'given-id'))[0]!.workflowId).toBe('given-id');
  });

  it('refuses, saying what it expected, a file that is not JSON, not a history, or another bundle format', async () => {
    expect(await refusal('notes.json', 'hello')).toMatch(/is not a workflow history: it is not JSON\. Give a bundle written by `parley audit export`/);
    expect(await refusal('object.json', '{"hello": 1}')).toMatch(/has no "events" array/);
    expect(await refusal('empty.json', '{"events": []}')).toMatch(/has no events/);
    expect(await refusal('other.json', '{"events": [{"eventType": "EVENT_TYPE_TIMER_FIRED"}]}')).toMatch(/does not begin with a WorkflowExecutionStarted event/);
    expect(await refusal('future.json', '{"format": "parley-audit-bundle/9", "histories": []}')).toMatch(/this Parley reads "parley-audit-bundle\/1"/);
  });

  it('says when the file cannot be read', async () => {
    const err = await readHistoryFile(join(dir, 'missing.json')).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/Cannot read .*missing\.json \(ENOENT\)\. Check the path\./);
  });
});
