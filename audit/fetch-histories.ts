/**
 * Fetches a workflow run's full history from Temporal, and those of the child workflows it
 * started, in the proto JSON `temporal workflow show -o json` writes.
 */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { ErrorCode, ParleyError } from '../common/errors.ts';
import type { AuditHistory, HistoryJson } from './audit-bundle.ts';

interface RunRef {
  workflowId: string;
  runId: string;
}

/** The runs of the children a history started (StartChildWorkflowExecutionInitiated, then Started). */
export function childRuns(history: HistoryJson): RunRef[] {
  const initiated = new Set<string>();
  const runs: RunRef[] = [];
  for (const event of history.events) {
    if (event.eventType === 'EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED') initiated.add(String(event.eventId));
    if (event.eventType !== 'EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED') continue;
    const attrs = event.childWorkflowExecutionStartedEventAttributes as
      | { initiatedEventId?: string; workflowExecution?: { workflowId?: string; runId?: string } }
      | undefined;
    const execution = attrs?.workflowExecution;
    if (attrs && initiated.has(String(attrs.initiatedEventId)) && execution?.workflowId && execution.runId) {
      runs.push({ workflowId: execution.workflowId, runId: execution.runId });
    }
  }
  return runs;
}

async function fetchOne(client: Client, workflowId: string, runId?: string): Promise<AuditHistory> {
  try {
    const resolvedRunId = runId ?? (await client.workflow.getHandle(workflowId).describe()).runId;
    const history = await client.workflow.getHandle(workflowId, resolvedRunId).fetchHistory();
    return { workflowId, runId: resolvedRunId, history: JSON.parse(historyToJSON(history)) as HistoryJson };
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) {
      throw new ParleyError(
        ErrorCode.NotFound,
        `No workflow "${workflowId}"${runId ? ` (run ${runId})` : ''} in namespace "${client.options.namespace}". Check the id and --namespace; the server may also have deleted it after its retention period.`,
        { workflowId },
        { cause: err },
      );
    }
    throw err;
  }
}

/**
 * The history of `workflowId`'s latest run, then of every child workflow it started, depth first.
 * @throws ParleyError NotFound when the workflow is unknown to the namespace.
 */
export async function fetchHistories(client: Client, workflowId: string): Promise<AuditHistory[]> {
  const out: AuditHistory[] = [];
  const seen = new Set<string>();
  const visit = async (ref: { workflowId: string; runId?: string }): Promise<void> => {
    const fetched = await fetchOne(client, ref.workflowId, ref.runId);
    if (seen.has(fetched.runId)) return;
    seen.add(fetched.runId);
    out.push(fetched);
    for (const child of childRuns(fetched.history)) await visit(child);
  };
  await visit({ workflowId });
  return out;
}
