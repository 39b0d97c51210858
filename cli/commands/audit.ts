/** `parley audit export | replay | verify | open`: an auditor's tools over workflow histories. */
import { UsageError, type Command } from '../lib/command.ts';
import { exportUsage, runAuditExport } from './audit-export.ts';
import { replayUsage, runAuditReplay } from './audit-replay.ts';
import { openUsage, runAuditOpen } from './audit-open.ts';
import { runAuditVerify, verifyUsage } from './audit-verify.ts';

const usage = [
  'Usage: parley audit <export | replay | verify | open> …',
  '',
  exportUsage,
  '',
  replayUsage,
  '',
  verifyUsage,
  '',
  openUsage,
].join('\n');

export const auditCommand: Command = {
  name: 'audit',
  summary: 'Export a run\'s histories and keys as a bundle; replay it against the current code; verify its envelopes; open yours',
  usage,
  async run(argv, io) {
    const [verb, ...rest] = argv;
    if (verb === 'export') return runAuditExport(rest, io);
    if (verb === 'replay') return runAuditReplay(rest, io);
    if (verb === 'verify') return runAuditVerify(rest, io);
    if (verb === 'open') return runAuditOpen(rest, io);
    throw new UsageError(verb === undefined ? 'missing "export", "replay", "verify" or "open".' : `unknown subcommand "${verb}"; use "export", "replay", "verify" or "open".`);
  },
};
