/**
 * The errors a site raises when an algorithm fails or breaks the node-socket contract, shaped
 * for the failure codec (failure-codec.ts): the first line — readable by the coordinator, the
 * API, Temporal and anyone reading the history — is Parley's own sentence with ids and a code
 * only; everything the container controls (its exit code, its log lines, the paths, methods and
 * recipients it asked the node socket for) goes on the later lines, which the site seals for its
 * own key. Otherwise an algorithm could leak rows through a failure: `GET /x/<row>`, a log line,
 * or an exit code chosen from the data.
 */
import { ErrorCode, ParleyError } from '../common/errors.ts';
import type { OrgId } from '../common/ids.ts';

interface Where {
  runId: string;
  step: string;
  org: OrgId;
}

/** Flattens container text onto lines of its own, so none of it can become the first line. */
function detailLines(lines: readonly string[]): string {
  return lines.map((line) => line.replace(/[\r\n]+/g, ' ')).join('\n');
}

/** The algorithm exited non-zero: its exit code and last log lines are sealed. */
export function stepFailedError(where: Where, exitCode: number, logTail: readonly string[]): ParleyError {
  return new ParleyError(
    ErrorCode.StepFailed,
    `Step "${where.step}" failed at site "${where.org}": its algorithm stopped with an error (ERR_STEP_FAILED); what it reported is sealed for the site.\n` +
      `The algorithm exited with code ${exitCode}. Its last log lines:\n${detailLines(logTail)}`,
    { runId: where.runId, step: where.step, org: where.org },
  );
}

const MIB = 1024 * 1024;

/**
 * The kernel killed the algorithm at the site's memory limit. The limit is the site's own
 * setting, not the container's, so it may be on the readable line with what to raise; the exit
 * code and log lines stay sealed as for any failure. (That a step ran out of memory tells the
 * relay no more than that it failed: one bit the container chose either way.)
 */
export function stepOutOfMemoryError(where: Where, memoryBytes: number, exitCode: number, logTail: readonly string[]): ParleyError {
  const limitMib = Math.round(memoryBytes / MIB);
  return new ParleyError(
    ErrorCode.StepOutOfMemory,
    `Step "${where.step}" failed at site "${where.org}": its algorithm used more than the site's memory limit of ${limitMib} MiB and was killed (ERR_STEP_OUT_OF_MEMORY). ` +
      `Ask the site's operator to raise limits.memoryMb in its site.yaml (and restart its worker), or make the algorithm use less memory; what it reported is sealed for the site.\n` +
      `The algorithm exited with code ${exitCode}. Its last log lines:\n${detailLines(logTail)}`,
    { runId: where.runId, step: where.step, org: where.org, memoryLimitMib: limitMib },
  );
}

/** The algorithm asked the node socket for what the contract does not allow: what it asked is sealed. */
export function socketContractError(where: Where, violations: readonly string[]): ParleyError {
  return new ParleyError(
    ErrorCode.StepProtocol,
    `Step "${where.step}" at site "${where.org}" broke the node-socket contract (ERR_STEP_PROTOCOL); what it asked for is sealed for the site.\n` +
      `Refused requests:\n${detailLines(violations)}`,
    { runId: where.runId, step: where.step, org: where.org },
  );
}
