/**
 * Looks for plaintext in a workflow history: the history as JSON, plus every payload in it
 * decoded (payload data is base64 in JSON, so a plaintext number would hide there).
 */
import type { WorkflowHandle } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';

/** The history's JSON text followed by every payload's decoded data. */
export async function historyText(handle: WorkflowHandle): Promise<string> {
  const history = await handle.fetchHistory();
  const json = historyToJSON(history);
  const decoded: string[] = [];
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(walk);
    if (node && typeof node === 'object') {
      const record = node as Record<string, unknown>;
      if (typeof record.data === 'string' && record.metadata && typeof record.metadata === 'object') {
        decoded.push(Buffer.from(record.data, 'base64').toString('utf8'));
      }
      Object.values(record).forEach(walk);
    }
  };
  walk(JSON.parse(json));
  return `${json}\n${decoded.join('\n')}`;
}

/** The values among `secrets` that occur in the text as whole numbers. */
export function plaintextFound(text: string, secrets: Array<bigint | number | string>): string[] {
  return secrets.map(String).filter((secret) => new RegExp(`(^|[^0-9])${secret}([^0-9]|$)`).test(text));
}

/** The largest payload in the history, in bytes of its data (what Temporal limits per payload). */
export async function largestPayloadBytes(handle: WorkflowHandle): Promise<number> {
  const json = JSON.parse(historyToJSON(await handle.fetchHistory())) as unknown;
  let largest = 0;
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(walk);
    if (node && typeof node === 'object') {
      const record = node as Record<string, unknown>;
      if (typeof record.data === 'string' && record.metadata && typeof record.metadata === 'object') {
        largest = Math.max(largest, Buffer.from(record.data, 'base64').length);
      }
      Object.values(record).forEach(walk);
    }
  };
  walk(json);
  return largest;
}
