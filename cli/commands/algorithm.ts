/**
 * `parley algorithm <verb>`: what a data scientist does with their own algorithm — scaffold it
 * (new), build its image (build), and run it once here under the sandbox (test). One file per
 * verb; this one dispatches.
 */
import { UsageError, type Command } from '../lib/command.ts';
import type { SiteVerb as Verb } from '../lib/site-verb.ts';
import { algorithmBuild } from './algorithm-build.ts';
import { algorithmNew } from './algorithm-new.ts';
import { algorithmTest } from './algorithm-test.ts';

const verbs: Verb[] = [algorithmNew, algorithmBuild, algorithmTest];
const width = Math.max(...verbs.map((v) => v.verb.length));

const usage = ['Usage: parley algorithm <verb> [options]', '', ...verbs.map((v) => `  ${v.verb.padEnd(width)}  ${v.summary}`), ...verbs.flatMap((v) => ['', v.usage])].join('\n');

export const algorithmCommand: Command = {
  name: 'algorithm',
  summary: 'Write your own algorithm: new, build, test',
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
