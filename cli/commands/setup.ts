/** `parley setup`: provisions this machine for the one-machine setup, idempotently. */
import { parseUsage, type Command } from '../lib/command.ts';

export const setupCommand: Command = {
  name: 'setup',
  summary: 'Provision this machine: Docker engine, Temporal CLI, base and example images',
  usage: [
    'Usage: parley setup [--quiet] [--with-postgres]',
    '',
    'Makes sure a Docker engine answers (installing and starting one when run as root on Debian),',
    'finds or builds the Temporal CLI (skipped when TEMPORAL_ADDRESS is set), and builds the base and',
    'example algorithm images. Safe to run again: each step does nothing when already done.',
    '',
    '  --quiet          print only the steps that do something',
    '  --with-postgres  also make sure PostgreSQL 15\'s binaries are installed (the test suite needs them)',
  ].join('\n'),
  async run(argv, io) {
    const { values } = parseUsage({ args: argv, options: { quiet: { type: 'boolean', default: false }, 'with-postgres': { type: 'boolean', default: false } }, strict: true });
    const progress = (line: string) => {
      if (!values.quiet || !line.startsWith('✓')) io.err(line);
    };
    const { prepareMachine } = await import('../../provision/prepare-machine.ts');
    await prepareMachine(progress, io.env);
    if (values['with-postgres']) {
      const { ensurePostgresBinaries } = await import('../../provision/postgres.ts');
      await ensurePostgresBinaries(progress, io.env);
      progress('✓ PostgreSQL 15 binaries');
    }
    if (!values.quiet) io.err('Machine ready.');
    return 0;
  },
};
