/**
 * `parley audit verify`'s report for people: per history a timeline (when each step ran, where,
 * with which image, what it received and sent), then the findings.
 */
import type { Finding, TimelineStep, VerifiedHistory, VerifyReport } from './verify-findings.ts';

const shortDigest = (digest: string) => digest.replace(/^(sha256:[0-9a-f]{12})[0-9a-f]*$/, '$1');
const seconds = (ms: number | undefined) => (ms === undefined ? '?' : `${(ms / 1000).toFixed(2)}s`);
const bytesText = (bytes: number) => (bytes < 1024 ? `${bytes} B` : bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(1)} KiB` : `${(bytes / 1024 / 1024).toFixed(1)} MiB`);

function stepLine(s: TimelineStep, width: { step: number; org: number }): string {
  const image = s.image.ran !== undefined && s.image.ran !== s.image.digest ? `${shortDigest(s.image.digest)} (ran ${shortDigest(s.image.ran)})` : shortDigest(s.image.digest);
  const got = s.received.map((r) => `${r.from}#${r.seq}`);
  const sent = s.sent.map((e) => `${e.from} → ${e.to.join(',')} #${e.seq}${e.output ? ' (output)' : ''} ${bytesText(e.bytes)}${e.bodyBytes !== undefined ? ` + body ${bytesText(e.bodyBytes)}` : ''}`);
  const what = [got.length ? `got ${got.join(', ')}` : '', sent.length ? `sent ${sent.join('; ')}` : ''].filter(Boolean).join(' · ');
  const status = s.status === 'completed' ? '' : ` [${s.status}]`;
  return `  ${`+${seconds(s.atMs)}`.padStart(8)} ${seconds(s.durationMs).padStart(6)}  ${s.step.padEnd(width.step)}  ${s.org.padEnd(width.org)}  ${image}  ${what}${status}`;
}

function historyLines(h: VerifiedHistory): string[] {
  const span = h.startedAt ? ` ${h.startedAt.replace(/\.\d+Z$/, 'Z')} → ${h.closedAt?.replace(/\.\d+Z$/, 'Z') ?? 'open'}` : '';
  const closed = h.closedAs ? h.closedAs.replace('WorkflowExecution', '').toLowerCase() : 'not closed';
  const width = {
    step: Math.max(4, ...h.timeline.map((s) => s.step.length)),
    org: Math.max(4, ...h.timeline.map((s) => s.org.length)),
  };
  return [
    `${h.workflowId}${h.workflowType ? ` (${h.workflowType})` : ''}${h.runId ? ` run ${h.runId}` : ''}: ${h.events} events,${span}, ${closed}`,
    `  ${'at'.padStart(8)} ${'took'.padStart(6)}  ${'step'.padEnd(width.step)}  ${'site'.padEnd(width.org)}  image  envelopes (sender → recipients #seq size)`,
    ...h.timeline.map((s) => stepLine(s, width)),
    `  ${h.envelopes} envelope(s) and ${h.attestations} attestation(s) checked.`,
  ];
}

function findingLine(f: Finding): string {
  const where = [f.eventId !== undefined ? `event ${f.eventId}` : '', f.step ?? '', f.org ? `@ ${f.org}` : ''].filter(Boolean).join(' ');
  return `  ${f.kind.padEnd(13)} ${f.workflowId}${where ? ` ${where}` : ''}: ${f.message}`;
}

/** The report as lines of text. */
export function formatVerifyReport(file: string, report: VerifyReport): string[] {
  const lines = report.histories.flatMap((h) => [...historyLines(h), '']);
  if (report.findings.length === 0) {
    lines.push(`PASS  ${file}: no findings.`);
  } else {
    lines.push(`Findings (${report.findings.length}):`, ...report.findings.map(findingLine), '', `FAIL  ${file}: ${report.findings.length} finding(s).`);
  }
  return lines;
}
