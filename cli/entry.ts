/**
 * The `parley` process (bin/parley.js loads it): main() with the process's stdout, stderr and
 * environment, Ctrl-C and SIGTERM as its abort signal (a second one forces the exit), and the exit
 * code as the process's.
 */
import { main } from './main.ts';

const controller = new AbortController();
let interrupts = 0;
function onSignal(signal: NodeJS.Signals): void {
  interrupts += 1;
  if (interrupts === 1) {
    process.stderr.write(`\n${signal}: stopping cleanly… press Ctrl-C again to force.\n`);
    controller.abort(new Error(signal));
  } else {
    process.stderr.write('Forced exit: some containers or volumes may remain; `parley demo` sweeps them next time.\n');
    process.exit(130);
  }
}
// Installed once the commands are loaded (this module's imports), as before main() existed: the
// help and unknown-command paths return without an await, so no signal reaches them.
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

const code = await main(process.argv.slice(2), {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  signal: controller.signal,
  env: process.env,
});
// Temporal's native runtime keeps handles open; exit explicitly once everything was stopped.
process.exit(code);
