/**
 * The `parley` command: dispatches to one command, turns errors into the what/why/what-to-do
 * message and an exit code (0 ok, 1 failure, 2 bad usage). The process around it (signals,
 * stdout, process.exit) is cli/entry.ts's.
 */
import { isParleyError } from '../common/errors.ts';
import { UsageError, type Command, type CommandIo } from './lib/command.ts';
import { algorithmCommand } from './commands/algorithm.ts';
import { auditCommand } from './commands/audit.ts';
import { codecServerCommand } from './commands/codec-server.ts';
import { chainCommand } from './commands/chain.ts';
import { collabCommand } from './commands/collab.ts';
import { coordinatorCommand } from './commands/coordinator.ts';
import { demoCommand } from './commands/demo.ts';
import { devCommand } from './commands/dev.ts';
import { loginCommand, logoutCommand } from './commands/login.ts';
import { orgCommand } from './commands/org.ts';
import { resultCommand } from './commands/result.ts';
import { runCommand } from './commands/run.ts';
import { runsCommand } from './commands/runs.ts';
import { serverCommand } from './commands/server.ts';
import { setupCommand } from './commands/setup.ts';
import { siteCommand } from './commands/site.ts';
import { userCommand } from './commands/user.ts';

const commands: Command[] = [demoCommand, devCommand, setupCommand, serverCommand, coordinatorCommand, loginCommand, logoutCommand, orgCommand, userCommand, collabCommand, siteCommand, algorithmCommand, chainCommand, runCommand, runsCommand, resultCommand, auditCommand, codecServerCommand];

function help(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'Usage: parley <command> [options]',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Run `parley <command> --help` for a command\'s options. --debug prints stack traces.',
  ].join('\n');
}

/**
 * Runs `parley <argv>` (argv without node and the script): dispatches to one command and returns
 * its exit code, printing only through `io`. It touches nothing of the process — no signal
 * handlers, no process.exit — so tests run the very dispatch users run, in their own process;
 * cli/entry.ts is the process edge around it.
 */
export async function main(argv: string[], io: CommandIo): Promise<number> {
  const debug = argv.includes('--debug');
  const args = argv.filter((a) => a !== '--debug');
  const name = args[0];
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    io.out(help());
    return name ? 0 : 2;
  }
  const command = commands.find((c) => c.name === name);
  if (!command) {
    io.err(`parley: unknown command "${name}".\n\n${help()}`);
    return 2;
  }
  if (args.includes('--help') || args.includes('-h')) {
    io.out(command.usage);
    return 0;
  }
  try {
    return await command.run(args.slice(1), io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`parley ${command.name}: ${err.message}\n\n${command.usage}`);
      return 2;
    }
    if (isParleyError(err)) {
      io.err(`parley ${command.name}: ${err.message}`);
    } else {
      io.err(`parley ${command.name}: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (debug && err instanceof Error) io.err(`${err.stack}`);
    return io.signal.aborted ? 130 : 1;
  }
}
