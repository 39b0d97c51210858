/**
 * `parley coordinator start`: the coordinator worker as its own process — workflow tasks only, on
 * `parley.coordinator`; no keys, no data. A real deployment runs it beside the API; the
 * one-machine demo runs it in-process instead.
 */
import { ErrorCode, ParleyError } from '../../common/errors.ts';
import { parseUsage, UsageError, type Command } from '../lib/command.ts';

const DEFAULT_TEMPORAL = '127.0.0.1:7233';

const usage = [
  'Usage: parley coordinator start',
  '',
  'Runs the coordinator: it executes Parley\'s workflows (which site runs what, moving sealed',
  'envelopes between them) and holds no key and no data. Run one or more beside the API.',
  'SIGTERM or Ctrl-C lets the workflow tasks in hand finish, then exits 0.',
  '',
  'Environment:',
  `  TEMPORAL_ADDRESS    the Temporal frontend, host:port (default ${DEFAULT_TEMPORAL})`,
  '  TEMPORAL_NAMESPACE  the namespace (default "default")',
].join('\n');

function parseOptions(argv: string[]): void {
  const { positionals } = parseUsage({ args: argv, options: {}, strict: true, allowPositionals: true });
  const [verb, ...rest] = positionals;
  if (verb !== 'start') throw new UsageError(verb === undefined ? 'missing "start".' : `unknown subcommand "${verb}"; the only one is "start".`);
  if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}".`);
}

export const coordinatorCommand: Command = {
  name: 'coordinator',
  summary: 'Run the coordinator worker (parley coordinator start)',
  usage,
  async run(argv, io) {
    parseOptions(argv);
    const address = io.env.TEMPORAL_ADDRESS || DEFAULT_TEMPORAL;
    const namespace = io.env.TEMPORAL_NAMESPACE || 'default';
    // Loaded only now: the worker is heavy and bad usage never needs it.
    const [{ NativeConnection }, { createCoordinatorWorker }, { installQuietRuntime }] = await Promise.all([
      import('@temporalio/worker'),
      import('../../workers/coordinator/worker.ts'),
      import('../../demo/local-cluster.ts'),
    ]);
    installQuietRuntime();
    if (io.signal.aborted) return 0;
    let connection;
    try {
      connection = await NativeConnection.connect({ address });
    } catch (err) {
      const source = io.env.TEMPORAL_ADDRESS ? 'TEMPORAL_ADDRESS' : 'the default; TEMPORAL_ADDRESS is not set';
      throw new ParleyError(
        ErrorCode.Prerequisite,
        `Temporal did not answer at ${address} (${source}): ${(err as Error).message}. Start the Temporal server, or set TEMPORAL_ADDRESS to the host:port of a running one.`,
        { address },
        { cause: err },
      );
    }
    try {
      const worker = await createCoordinatorWorker({ connection, namespace });
      const stop = () => {
        io.err('Stopping the coordinator: finishing the workflow tasks in hand…');
        if (worker.getState() === 'RUNNING') worker.shutdown();
      };
      io.signal.addEventListener('abort', stop, { once: true });
      try {
        io.err(`Coordinator running on Temporal ${address}, namespace ${namespace}. Ctrl-C or SIGTERM stops it.`);
        // A signal that came while the workflow bundle was loading: stop as soon as it runs.
        const running = worker.run();
        if (io.signal.aborted) stop();
        await running;
      } finally {
        io.signal.removeEventListener('abort', stop);
      }
    } finally {
      await connection.close();
    }
    io.err('Coordinator stopped.');
    return 0;
  },
};
