/** `parley server start`: the central server — the API over its database, starting runs through Temporal. */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { describeS3BlobConfig, readS3BlobConfig } from '../../api/blobs/s3-config.ts';
import { ErrorCode, ParleyError } from '../../common/errors.ts';
import { parseUsage, UsageError, type Command, type CommandIo } from '../lib/command.ts';

const DEFAULT_PORT = 8620;
const DEFAULT_TEMPORAL = '127.0.0.1:7233';

const usage = [
  'Usage: parley server start [--port N] [--host H] [--state-dir DIR] [--json]',
  '',
  'Runs Parley\'s central server: organisations and their public keys, users, collaborations, sites',
  'and runs, over HTTP (OpenAPI at /openapi.json). Runs until Ctrl-C or SIGTERM, then stops cleanly.',
  'The first start creates the server admin "admin" and, unless PARLEY_ADMIN_PASSWORD is set, prints',
  'a generated password for it once — store it then; it is never shown again.',
  '',
  `  --port N         port to listen on (default ${DEFAULT_PORT}; 0 picks a free one)`,
  '  --host H         address to listen on (default 127.0.0.1; 0.0.0.0 for other machines)',
  '  --state-dir DIR  the database (unless DATABASE_URL) and the token key',
  '                   (default $XDG_STATE_HOME/parley/server or ~/.local/state/parley/server)',
  '  --json           print one JSON line once listening: {"url", "admin": {…}}',
  '',
  'Environment:',
  '  DATABASE_URL           PostgreSQL to use (default: PGlite under the state directory)',
  `  TEMPORAL_ADDRESS       the Temporal server that runs the workflows (default ${DEFAULT_TEMPORAL})`,
  '  TEMPORAL_NAMESPACE     its namespace, the coordinator\'s and the sites\' (default "default")',
  '  PARLEY_ADMIN_PASSWORD  the first admin\'s password, at least 12 characters (default: generated)',
  '',
  'Blobs (sealed messages too large for a workflow history) are kept under the state directory,',
  'or, with PARLEY_S3_BUCKET set, in an S3-compatible store (checked at start):',
  '  PARLEY_S3_BUCKET                  the bucket',
  '  PARLEY_S3_ENDPOINT                the store\'s URL, e.g. https://s3.eu-central-1.amazonaws.com',
  '  PARLEY_S3_REGION                  the signing region (default us-east-1)',
  '  PARLEY_S3_PREFIX                  the key prefix (default parley/blobs)',
  '  PARLEY_S3_ADDRESSING              path (default) or virtual',
  '  PARLEY_S3_ACCESS_KEY_ID           the access key id',
  '  PARLEY_S3_SECRET_ACCESS_KEY_FILE  a file holding the secret key (or PARLEY_S3_SECRET_ACCESS_KEY)',
].join('\n');

interface Options {
  port: number;
  host: string;
  stateDir: string;
  json: boolean;
}

function parseOptions(argv: string[], env: NodeJS.ProcessEnv): Options {
  const parsed = parseUsage({
    args: argv,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      'state-dir': { type: 'string' },
      json: { type: 'boolean', default: false },
    },
    strict: true,
    allowPositionals: true,
  });
  const [verb, ...rest] = parsed.positionals;
  if (verb !== 'start') throw new UsageError(verb === undefined ? 'missing "start".' : `unknown subcommand "${verb}"; the only one is "start".`);
  if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}".`);
  const { values } = parsed;
  let port = DEFAULT_PORT;
  if (values.port !== undefined) {
    if (!/^[0-9]{1,5}$/.test(values.port) || Number(values.port) > 65_535) {
      throw new UsageError(`--port must be a whole number from 0 to 65535 (0 picks a free port); got "${values.port}".`);
    }
    port = Number(values.port);
  }
  if (values.host === '') throw new UsageError('--host must not be empty; give an address such as 127.0.0.1 or 0.0.0.0.');
  if (values['state-dir'] === '') throw new UsageError('--state-dir must not be empty.');
  const stateDir = values['state-dir'] ?? join(env.XDG_STATE_HOME || join(homedir(), '.local', 'state'), 'parley', 'server');
  return { port, host: values.host ?? '127.0.0.1', stateDir, json: values.json ?? false };
}

function untilAborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}

async function connectTemporal(io: CommandIo) {
  const address = io.env.TEMPORAL_ADDRESS || DEFAULT_TEMPORAL;
  // Loaded only now: Temporal's client is heavy and bad usage never needs it.
  const { Connection } = await import('@temporalio/client');
  try {
    return { address, connection: await Connection.connect({ address, connectTimeout: '5 seconds' }) };
  } catch (err) {
    const source = io.env.TEMPORAL_ADDRESS ? 'TEMPORAL_ADDRESS' : 'the default; TEMPORAL_ADDRESS is not set';
    throw new ParleyError(
      ErrorCode.Prerequisite,
      `Temporal did not answer at ${address} (${source}). The server needs it to start runs. ` +
        'Start a Temporal server (e.g. `temporal server start-dev`), or set TEMPORAL_ADDRESS to the host:port of a running one.',
      { address },
      { cause: err },
    );
  }
}

export const serverCommand: Command = {
  name: 'server',
  summary: 'Run the central server (parley server start)',
  usage,
  async run(argv, io) {
    const options = parseOptions(argv, io.env);
    const adminPassword = io.env.PARLEY_ADMIN_PASSWORD || undefined;
    if (adminPassword !== undefined && adminPassword.length < 12) {
      throw new ParleyError(ErrorCode.InvalidInput, 'PARLEY_ADMIN_PASSWORD is shorter than 12 characters. Set a longer one (a passphrase of several words is easiest), or unset it to have one generated.');
    }
    const databaseUrl = io.env.DATABASE_URL || undefined;
    const s3 = await readS3BlobConfig(io.env);
    const { address, connection } = await connectTemporal(io);
    try {
      const [{ Client }, { startCentralServer }] = await Promise.all([import('@temporalio/client'), import('../../api/central-server.ts')]);
      const server = await startCentralServer({
        stateDir: options.stateDir,
        temporal: new Client({ connection, namespace: io.env.TEMPORAL_NAMESPACE || 'default' }),
        port: options.port,
        hostname: options.host,
        ...(databaseUrl ? { databaseUrl } : {}),
        ...(adminPassword ? { adminPassword } : {}),
        ...(s3 ? { s3 } : {}),
      });
      try {
        const created = server.admin.password !== undefined;
        // Shown only when generated here: a password from the environment is the operator's own.
        const generated = created && adminPassword === undefined ? server.admin.password : undefined;
        // DATABASE_URL may hold a password: name the variable, never print its value.
        io.err(`Database: ${databaseUrl ? 'PostgreSQL (DATABASE_URL)' : `PGlite in ${join(options.stateDir, 'db')}`}; Temporal: ${address}`);
        io.err(`Blobs: ${s3 ? describeS3BlobConfig(s3) : `files in ${join(options.stateDir, 'blobs')}`}`);
        if (options.json) {
          io.out(JSON.stringify({
            url: server.url,
            admin: { username: server.admin.username, orgId: server.admin.orgId, created, ...(generated ? { password: generated } : {}) },
          }));
        } else {
          io.out(`Parley API listening on ${server.url}`);
        }
        if (generated !== undefined) {
          if (!options.json) {
            io.out(`Server admin "${server.admin.username}" created. Its password, shown only this once — store it now (e.g. in a password manager):`);
            io.out(`  ${generated}`);
          }
          io.err('The admin password is not stored in clear anywhere and cannot be shown again.');
        } else if (created) {
          io.err(`Server admin "${server.admin.username}" created with the password in PARLEY_ADMIN_PASSWORD.`);
        } else if (adminPassword !== undefined) {
          io.err(`Server admin "${server.admin.username}" already exists: PARLEY_ADMIN_PASSWORD is ignored (it only sets the first admin's password).`);
        }
        io.err(`Log in with: parley login --api ${server.url} --username ${server.admin.username}`);
        io.err('Request log follows (JSON lines). Ctrl-C or SIGTERM stops the server.');
        await untilAborted(io.signal);
        io.err('Stopping the server: finishing open requests…');
      } finally {
        await server.close();
      }
    } finally {
      await connection.close();
    }
    io.err('Server stopped.');
    return 0;
  },
};
