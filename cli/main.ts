/**
 * Entry point of the `parley` command: dispatches to one command, turns errors into the
 * what/why/what-to-do message and an exit code (0 ok, 1 failure, 2 bad usage).
 */
import { isParleyError } from '../common/errors.ts';
import { UsageError, type Command } from './lib/command.ts';
import { auditCommand } from './commands/audit.ts';
import { codecServerCommand } from './commands/codec-server.ts';
import { chainCommand } from './commands/chain.ts';
import { collabCommand } from './commands/collab.ts';
import { coordinatorCommand } from './commands/coordinator.ts';
import { demoCommand } from './commands/demo.ts';
import { loginCommand, logoutCommand } from './commands/login.ts';
import { orgCommand } from './commands/org.ts';
import { resultCommand } from './commands/result.ts';
import { runCommand } from './commands/run.ts';
import { runsCommand } from './commands/runs.ts';
import { serverCommand } from './commands/server.ts';
import { setupCommand } from './commands/setup.ts';
import { siteCommand } from './commands/site.ts';
import { userCommand } from './commands/user.ts';

const commands: Command[] = [demoCommand, setupCommand, serverCommand, coordinatorCommand, loginCommand, logoutCommand, orgCommand, userCommand, collabCommand, siteCommand, chainCommand, runCommand, runsCommand, resultCommand, auditCommand, codecServerCommand];

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

async function main(argv: string[]): Promise<number> {
  const debug = argv.includes('--debug');
  const args = argv.filter((a) => a !== '--debug');
  const name = args[0];
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${help()}\n`);
    return name ? 0 : 2;
  }
  const command = commands.find((c) => c.name === name);
  if (!command) {
    process.stderr.write(`parley: unknown command "${name}".\n\n${help()}\n`);
    return 2;
  }
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(`${command.usage}\n`);
    return 0;
  }
  const controller = new AbortController();
  let interrupts = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    interrupts += 1;
    if (interrupts === 1) {
      process.stderr.write(`\n${signal}: stopping cleanly… press Ctrl-C again to force.\n`);
      controller.abort(new Error(signal));
    } else {
      process.stderr.write('Forced exit: some containers or volumes may remain; `parley demo` sweeps them next time.\n');
      process.exit(130);
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await command.run(args.slice(1), {
      out: (line) => process.stdout.write(`${line}\n`),
      err: (line) => process.stderr.write(`${line}\n`),
      signal: controller.signal,
      env: process.env,
    });
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`parley ${command.name}: ${err.message}\n\n${command.usage}\n`);
      return 2;
    }
    if (isParleyError(err)) {
      process.stderr.write(`parley ${command.name}: ${err.message}\n`);
    } else {
      process.stderr.write(`parley ${command.name}: ${err instanceof Error ? err.message : String(err)}\n`);
    }
    if (debug && err instanceof Error) process.stderr.write(`${err.stack}\n`);
    return controller.signal.aborted ? 130 : 1;
  }
}

const code = await main(process.argv.slice(2));
// Temporal's native runtime keeps handles open; exit explicitly once everything was stopped.
process.exit(code);
