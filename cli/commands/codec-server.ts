/** `parley codec-server`: envelopes shown as readable metadata in the Temporal Web UI and CLI. */
import { parseUsage, UsageError, type Command, type CommandIo } from '../lib/command.ts';

const DEFAULT_PORT = 8081;

const usage = [
  'Usage: parley codec-server [--port N] [--host H] [--key FILE] [--keys-dir DIR] [--cors-origin URL]…',
  '',
  'Serves Temporal\'s remote codec protocol (POST /decode, /encode) for the Web UI and `temporal',
  'workflow show --codec-endpoint`. Each envelope in a payload is shown as its metadata — sender,',
  'recipients, run, step, sequence, key thumbprints, sizes, and whether its signature verifies —',
  'never its content, unless --key names the key file of an organisation it was sealed for: then it',
  'is opened (and verified) and its content shown too. Failures sealed for that organisation open too.',
  '',
  `  --port N          port (default ${DEFAULT_PORT})`,
  '  --host H          address to listen on (default 127.0.0.1: only this machine)',
  '  --key FILE        an organisation\'s key file: open what was sealed for it',
  '  --keys-dir DIR    <org>.json public-key files, to verify signatures (needed to open)',
  '  --cors-origin URL the Web UI\'s origin (repeatable; default http://localhost:8233 and http://127.0.0.1:8233)',
  '',
  'Then: temporal server start-dev --ui-codec-endpoint http://127.0.0.1:8081, or set it in the UI\'s',
  'settings (Data Encoder); for the CLI: temporal workflow show … --codec-endpoint http://127.0.0.1:8081',
].join('\n');

function parseOptions(argv: string[]) {
  const parsed = parseUsage({
    args: argv,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      key: { type: 'string' },
      'keys-dir': { type: 'string' },
      'cors-origin': { type: 'string', multiple: true },
    },
    strict: true,
    allowPositionals: false,
  });
  const { values } = parsed;
  const port = values.port === undefined ? DEFAULT_PORT : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be a port number (0–65535), not "${values.port}".`);
  for (const origin of values['cors-origin'] ?? []) {
    if (!/^https?:\/\/[^/]+$/.test(origin)) throw new UsageError(`--cors-origin must be an origin such as http://localhost:8233 (scheme, host, port; no path), not "${origin}".`);
  }
  return { port, host: values.host ?? '127.0.0.1', key: values.key, keysDir: values['keys-dir'], corsOrigins: values['cors-origin'] };
}

async function run(argv: string[], io: CommandIo): Promise<number> {
  const options = parseOptions(argv);
  const { startServer } = await import('../../api/server.ts');
  const { createCodecApp, DEFAULT_UI_ORIGINS } = await import('../../audit/codec/codec-app.ts');
  const keys = options.key ? await (await import('../../activities/key-file.ts')).readKeyFile(options.key) : undefined;
  const directory = options.keysDir ? (await import('../../activities/key-directory.ts')).fileKeyDirectory(options.keysDir) : undefined;
  const corsOrigins = options.corsOrigins ?? DEFAULT_UI_ORIGINS;
  const app = createCodecApp({ ...(keys ? { keys } : {}), ...(directory ? { directory } : {}), corsOrigins });
  const server = await startServer(app, { port: options.port, hostname: options.host });
  io.out(`Codec server at ${server.url} (for ${corsOrigins.join(', ')})${keys ? `; opens what is sealed for "${keys.org}"` : '; metadata only'}.`);
  if (keys && !directory) io.err('Warning: without --keys-dir no signature can be verified, so nothing is opened.');
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
