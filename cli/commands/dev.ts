/**
 * `parley dev <verb>`: a local federation that keeps running between commands, for a data
 * scientist to build, allow and run their algorithms against — up, status, down. One file per
 * verb; this one dispatches.
 */
import { UsageError, type Command } from '../lib/command.ts';
import type { SiteVerb as Verb } from '../lib/site-verb.ts';
import { devDown } from './dev-down.ts';
import { devStatus } from './dev-status.ts';
import { devUp } from './dev-up.ts';

const verbs: Verb[] = [devUp, devStatus, devDown];
const width = Math.max(...verbs.map((v) => v.verb.length));

const usage = ['Usage: parley dev <verb> [options]', '', ...verbs.map((v) => `  ${v.verb.padEnd(width)}  ${v.summary}`), ...verbs.flatMap((v) => ['', v.usage])].join('\n');

export const devCommand: Command = {
  name: 'dev',
  summary: 'A local federation that keeps running: up, status, down',
  usage,
  async run(argv, io) {
    const given = argv[0];
    const verb = verbs.find((v) => v.verb === given);
    if (verb === undefined) {
      throw new UsageError(given === undefined || given.startsWith('-') ? `missing <verb>; one of ${verbs.map((v) => v.verb).join(', ')}.` : `unknown subcommand "${given}"; one of ${verbs.map((v) => v.verb).join(', ')}.`);
    }
    return verb.run(argv, io);
  },
};
