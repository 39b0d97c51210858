/** `parley audit export | replay | verify`: an auditor's tools over workflow histories. */
import { UsageError, type Command } from '../command.ts';
import { exportUsage, runAuditExport } from './audit-export.ts';
import { replayUsage, runAuditReplay } from './audit-replay.ts';
import { runAuditVerify, verifyUsage } from './audit-verify.ts';

const usage = [
  'Usage: parley audit <export | replay | verify> …',
  '',
  exportUsage,
  '',
  replayUsage,
  '',
  verifyUsage,
].join('\n');

export const auditCommand: Command = {
  name: 'audit',
  summary: 'Export a run\'s histories and keys as a bundle; replay it against the current code; verify its envelopes',
  usage,
  async run(argv, io) {
    const [verb, ...rest] = argv;
    if (verb === 'export') return runAuditExport(rest, io);
    if (verb === 'replay') return runAuditReplay(rest, io);
    if (verb === 'verify') return runAuditVerify(rest, io);
    throw new UsageError(verb === undefined ? 'missing "export", "replay" or "verify".' : `unknown subcommand "${verb}"; use "export", "replay" or "verify".`);
  },
};
