/** `parley codec-server`: envelopes shown as readable metadata in the Temporal Web UI and CLI. */
import { readFile } from 'node:fs/promises';
import { parseUsage, UsageError, type Command, type CommandIo } from '../lib/command.ts';

const DEFAULT_PORT = 8081;

const usage = [
  'Usage: parley codec-server [--port N] [--host H] [--key FILE] [--keys-dir DIR] [--token-file FILE]',
  '                           [--ui-origin URL]… [--allow-remote] [--allow-host NAME]… [--api URL]',
  '',
  'Serves Temporal\'s remote codec protocol (POST /decode, /encode) for the Web UI and `temporal',
  'workflow show --codec-endpoint`. Each envelope in a payload is shown as its metadata — sender,',
  'recipients, run, step, sequence, key thumbprints, sizes, and whether its signature verifies —',
  'never its content, unless --key names the key file of an organisation it was sealed for: then it',
  'is opened (and verified) and its content shown too. Failures sealed for that organisation open too.',
  '',
  'Every call needs the server\'s token (generated and printed once at start, or read from',
  '--token-file), must name this server in its Host header, and from a browser must come from a',
  '--ui-origin. With --key it listens only on a loopback address unless --allow-remote is given.',
  '',
  `  --port N           port (default ${DEFAULT_PORT})`,
  '  --host H           address to listen on (default 127.0.0.1: only this machine)',
  '  --key FILE         an organisation\'s key file: open what was sealed for it',
  '  --keys-dir DIR     <org>.json public-key files, to verify signatures (needed to open)',
  '  --token-file FILE  the token, instead of a fresh one (at least 22 characters, e.g. `openssl rand -hex 32`)',
  '  --ui-origin URL    the Web UI\'s origin (repeatable; default http://localhost:8233 and http://127.0.0.1:8233;',
  '                     --cors-origin is the same)',
  '  --allow-remote     with --key, listen on a non-loopback address too (put TLS in front: the token',
  '                     and the opened content travel in the clear over plain HTTP)',
  '  --allow-host NAME  a hostname the Host header may name besides localhost, 127.0.0.1, ::1 (repeatable)',
  '  --api URL          fetch large messages\' blobs from this Parley server with your stored login (an',
  '                     auditor\'s), check them against their envelopes and, with --key, show the bodies',
  '                     sealed for you (up to 4 MiB; larger ones: parley audit export, then audit open)',
  '',
  'Then: temporal server start-dev --ui-codec-endpoint http://127.0.0.1:8081/t/<token>, or set that',
  'endpoint in the UI\'s settings (Data Encoder); for the CLI:',
  '  temporal workflow show … --codec-endpoint http://127.0.0.1:8081 --codec-auth "Bearer <token>"',
].join('\n');

const WILDCARDS = new Set(['0.0.0.0', '::', '[::]']);

function parseOptions(argv: string[]) {
  const parsed = parseUsage({
    args: argv,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      key: { type: 'string' },
      'keys-dir': { type: 'string' },
      'token-file': { type: 'string' },
      'ui-origin': { type: 'string', multiple: true },
      'cors-origin': { type: 'string', multiple: true },
      'allow-remote': { type: 'boolean' },
      'allow-host': { type: 'string', multiple: true },
      api: { type: 'string' },
    },
    strict: true,
    allowPositionals: false,
  });
  const { values } = parsed;
  const port = values.port === undefined ? DEFAULT_PORT : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be a port number (0–65535), not "${values.port}".`);
  const origins = [...(values['ui-origin'] ?? []), ...(values['cors-origin'] ?? [])];
  for (const origin of origins) {
    if (!/^https?:\/\/[^/]+$/.test(origin)) throw new UsageError(`--ui-origin must be an origin such as http://localhost:8233 (scheme, host, port; no path), not "${origin}".`);
  }
  for (const name of values['allow-host'] ?? []) {
    if (!/^[A-Za-z0-9.-]{1,253}$|^[0-9a-fA-F:]{2,39}$/.test(name)) throw new UsageError(`--allow-host must be a hostname or address without port, not "${name}".`);
  }
  return {
    port,
    host: values.host ?? '127.0.0.1',
    key: values.key,
    keysDir: values['keys-dir'],
    tokenFile: values['token-file'],
    corsOrigins: origins.length > 0 ? origins : undefined,
    allowRemote: values['allow-remote'] === true,
    allowHosts: values['allow-host'] ?? [],
    api: values.api,
  };
}

async function readToken(file: string, minLength: number): Promise<string> {
  const token = (await readFile(file, 'utf8')).trim();
  if (token.length < minLength || /\s/.test(token) || !/^[A-Za-z0-9._~-]+$/.test(token)) {
    throw new UsageError(`--token-file ${file} must hold one token of at least ${minLength} characters (letters, digits, . _ ~ -), e.g. from \`openssl rand -hex 32\`.`);
  }
  return token;
}

async function run(argv: string[], io: CommandIo): Promise<number> {
  const options = parseOptions(argv);
  const { isLoopbackAddress, newCodecToken, MIN_TOKEN_LENGTH } = await import('../../audit/codec/codec-guard.ts');
  // With --key, anyone who reaches the port and has the token reads what was sealed for that
  // organisation: beyond this machine only when the operator says so in as many words.
  if (options.key !== undefined && !isLoopbackAddress(options.host) && !options.allowRemote) {
    throw new UsageError(`Not listening on ${options.host} with --key: it would decrypt for anyone on the network who learns the token. Listen on 127.0.0.1 (the default), or pass --allow-remote if that is really meant (and put TLS in front).`);
  }
  const token = options.tokenFile === undefined ? newCodecToken() : await readToken(options.tokenFile, MIN_TOKEN_LENGTH);
  const { startServer } = await import('../../api/server.ts');
  const { createCodecApp, DEFAULT_UI_ORIGINS } = await import('../../audit/codec/codec-app.ts');
  const keys = options.key ? await (await import('../../activities/key-file.ts')).readKeyFile(options.key) : undefined;
  const directory = options.keysDir ? (await import('../../activities/key-directory.ts')).fileKeyDirectory(options.keysDir) : undefined;
  const corsOrigins = options.corsOrigins ?? DEFAULT_UI_ORIGINS;
  const hostnames = [...options.allowHosts, ...(WILDCARDS.has(options.host) ? [] : [options.host])];
  let blobs;
  if (options.api !== undefined) {
    const { openSession } = await import('../lib/session.ts');
    const session = await openSession(io, options.api);
    blobs = (runId: string, digest: string, size: number) => session.client.getBlob(runId, digest, size);
  }
  const app = createCodecApp({ ...(keys ? { keys } : {}), ...(directory ? { directory } : {}), ...(blobs ? { blobs } : {}), corsOrigins, token, hostnames });
  const server = await startServer(app, { port: options.port, hostname: options.host });
  io.out(`Codec server at ${server.url} (for ${corsOrigins.join(', ')})${keys ? `; opens what is sealed for "${keys.org}"` : '; metadata only'}.`);
  if (options.tokenFile === undefined) {
    // Printed this once and kept nowhere: restart the server for a new one.
    io.out(`Token (shown only now): ${token}`);
    io.out(`  Web UI codec endpoint: ${server.url.replace(/\/$/, '')}/t/${token}`);
    io.out(`  Temporal CLI: --codec-endpoint ${server.url} --codec-auth "Bearer ${token}"`);
  } else {
    io.out(`Token: the one in ${options.tokenFile}. Web UI endpoint: ${server.url.replace(/\/$/, '')}/t/<token>; CLI: --codec-auth "Bearer <token>".`);
  }
  if (keys && !directory) io.err('Warning: without --keys-dir no signature can be verified, so nothing is opened.');
  if (!isLoopbackAddress(options.host)) io.err(`Warning: listening beyond this machine on ${options.host}; the Host header must name ${hostnames.length > 0 ? hostnames.join(', ') : 'a loopback address'} (add names with --allow-host).`);
  await new Promise<void>((resolve) => {
    if (io.signal.aborted) resolve();
    io.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  await server.close();
  return 0;
}

export const codecServerCommand: Command = {
  name: 'codec-server',
  summary: 'Show envelopes as readable metadata in the Temporal Web UI (remote codec protocol)',
  usage,
  run,
};
