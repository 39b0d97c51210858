/**
 * A command made of verbs (`parley site <verb>`, `parley algorithm <verb>`): its usage lists every
 * verb's summary and then each verb's own usage, and it hands the whole argv to the verb named
 * first. Written once, so every such command refuses a missing or unknown verb the same way.
 */
import { UsageError, type Command } from './command.ts';
import type { SiteVerb as Verb } from './site-verb.ts';

export function verbCommand(name: string, summary: string, verbs: readonly Verb[]): Command {
  const width = Math.max(...verbs.map((v) => v.verb.length));
  const names = verbs.map((v) => v.verb).join(', ');
  return {
    name,
    summary,
    usage: [`Usage: parley ${name} <verb> [options]`, '', ...verbs.map((v) => `  ${v.verb.padEnd(width)}  ${v.summary}`), ...verbs.flatMap((v) => ['', v.usage])].join('\n'),
    async run(argv, io) {
      const given = argv[0];
      const verb = verbs.find((v) => v.verb === given);
      if (verb === undefined) {
        throw new UsageError(given === undefined || given.startsWith('-') ? `missing <verb>; one of ${names}.` : `unknown subcommand "${given}"; one of ${names}.`);
      }
      return verb.run(argv, io);
    },
  };
}
