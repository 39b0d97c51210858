/**
 * Reads what `parley audit replay` accepts: a Parley audit bundle, a `temporal workflow show -o
 * json` file (`{ "events": [...] }`), or a bare array of events. Anything else is refused with a
 * message that says what the file was expected to be.
 */
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { ErrorCode, ParleyError } from '../common/errors.ts';
import { AUDIT_BUNDLE_FORMAT, type HistoryJson } from './audit-bundle.ts';
import { isRecord } from './proto-payloads.ts';

/** One history to replay, with where it came from. */
export interface HistorySource {
  file: string;
  /** The workflow id the history ran under: from the bundle, else the file name. */
  workflowId: string;
  runId?: string;
  history: HistoryJson;
}

const EXPECTED =
  'Give a bundle written by `parley audit export`, or a history written by `temporal workflow show -o json`.';

function notHistory(file: string, why: string): never {
  throw new ParleyError(ErrorCode.InvalidInput, `${file} is not a workflow history: ${why}. ${EXPECTED}`, { path: file });
}

/** Checks the shape replay relies on: a non-empty event list that starts the workflow. */
function checkedHistory(file: string, value: unknown, where: string): HistoryJson {
  const events = Array.isArray(value) ? value : isRecord(value) ? value.events : undefined;
  if (!Array.isArray(events)) notHistory(file, `${where} has no "events" array`);
  if (events.length === 0) notHistory(file, `${where} has no events`);
  if (!events.every(isRecord)) notHistory(file, `${where} has an event that is not an object`);
  const first = events[0] as Record<string, unknown>;
  if (first.eventType !== 'EVENT_TYPE_WORKFLOW_EXECUTION_STARTED' && first.eventType !== 'WorkflowExecutionStarted') {
    notHistory(file, `${where} does not begin with a WorkflowExecutionStarted event`);
  }
  return { events: events as Array<Record<string, unknown>> };
}

/**
 * The histories in `file`.
 * @param workflowId for a plain history (which does not record its own workflow id); defaults to
 *   the file name without `.json`, as `temporal workflow show` users usually name it.
 * @throws ParleyError InvalidInput when the file is unreadable, not JSON, or holds no history.
 */
export async function readHistoryFile(file: string, workflowId?: string): Promise<HistorySource[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new ParleyError(ErrorCode.InvalidInput, `Cannot read ${file} (${code}). Check the path.`, { path: file }, { cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    notHistory(file, 'it is not JSON');
  }
  if (isRecord(json) && 'format' in json) {
    if (json.format !== AUDIT_BUNDLE_FORMAT) {
      notHistory(file, `its format is ${JSON.stringify(json.format)}, and this Parley reads "${AUDIT_BUNDLE_FORMAT}"`);
    }
    if (!Array.isArray(json.histories) || json.histories.length === 0) notHistory(file, 'the bundle holds no histories');
    return json.histories.map((entry: unknown, i: number) => {
      const where = `histories[${i}]`;
      if (!isRecord(entry) || typeof entry.workflowId !== 'string' || entry.workflowId === '') notHistory(file, `${where} has no workflowId`);
      return {
        file,
        workflowId: entry.workflowId,
        ...(typeof entry.runId === 'string' ? { runId: entry.runId } : {}),
        history: checkedHistory(file, entry.history, `${where}.history`),
      };
    });
  }
  return [{ file, workflowId: workflowId ?? basename(file).replace(/\.json$/i, ''), history: checkedHistory(file, json, 'the file') }];
}
