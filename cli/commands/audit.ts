/** `parley audit export | replay`: an auditor's tools over workflow histories. */
import { UsageError, type Command } from '../command.ts';
import { exportUsage, runAuditExport } from './audit-export.ts';
import { replayUsage, runAuditReplay } from './audit-replay.ts';

const usage = [
  'Usage: parley audit <export | replay> …',
  '',
  exportUsage,
  '',
  replayUsage,
].join('\n');

export const auditCommand: Command = {
  name: 'audit',
  summary: 'Export a run\'s histories and keys as a bundle; replay histories against the current code',
  usage,
  async run(argv, io) {
    const [verb, ...rest] = argv;
    if (verb === 'export') return runAuditExport(rest, io);
    if (verb === 'replay') return runAuditReplay(rest, io);
    throw new UsageError(verb === undefined ? 'missing "export" or "replay".' : `unknown subcommand "${verb}"; use "export" or "replay".`);
  },
};
