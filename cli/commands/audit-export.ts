/** `parley audit export`: a run's histories and the public keys to check them, as one bundle. */
import { ErrorCode, ParleyError } from '../../common/errors.ts';
import { parseUsage, UsageError, type CommandIo } from '../lib/command.ts';

export const exportUsage = [
  'Usage: parley audit export <workflowId> (--keys-dir DIR | --api URL) [-o FILE] [--without-bodies] [--address HOST:PORT] [--namespace NS] [--json]',
  '',
  'Writes one audit bundle (format parley-audit-bundle/1): the run\'s full history and those of any',
  'child workflows it started, each exactly as `temporal workflow show -o json` writes it, and the',
  'public keys (JWKs, RFC 7638 thumbprints) of every organisation its envelopes name. Never a private key.',
  'The sealed bodies of large messages (ciphertext, fetched with --api and checked against their',
  'envelopes) go beside it, in FILE without .json plus .bodies/ (run.audit.json → run.audit.bodies/).',
  '',
  '  --keys-dir DIR       a directory of <org>.json public-key files',
  '  --api URL            fetch public keys from this Parley server, with your stored login',
  '  -o, --output FILE    where to write (default ./<workflowId>.audit.json; "-" for stdout, for a run without detached bodies)',
  '  --without-bodies     leave large messages\' bodies out (verify names each as missing; open cannot read them)',
  '  --address HOST:PORT  the Temporal frontend (default $TEMPORAL_ADDRESS, else 127.0.0.1:7233)',
  '  --namespace NS       the Temporal namespace (default $TEMPORAL_NAMESPACE, else default)',
  '  --json               print one JSON line: {"file", "workflowId", "histories", "events", "envelopes", "bodies", "bodiesDirectory"?, "orgs"}',
].join('\n');

function parseOptions(argv: string[], env: NodeJS.ProcessEnv) {
  const parsed = parseUsage({
    args: argv,
    options: {
      output: { type: 'string', short: 'o' },
      address: { type: 'string' },
      namespace: { type: 'string' },
      'keys-dir': { type: 'string' },
      api: { type: 'string' },
      'without-bodies': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
    strict: true,
    allowPositionals: true,
  });
  const [workflowId, ...extra] = parsed.positionals;
  if (workflowId === undefined || workflowId === '') throw new UsageError('missing <workflowId>.');
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}".`);
  const { values } = parsed;
  if ((values['keys-dir'] === undefined) === (values.api === undefined)) {
    throw new UsageError('give exactly one source of public keys: --keys-dir DIR or --api URL.');
  }
  return {
    workflowId,
    output: values.output ?? `${workflowId.replace(/[^A-Za-z0-9._-]/g, '_')}.audit.json`,
    address: values.address ?? (env.TEMPORAL_ADDRESS || '127.0.0.1:7233'),
    namespace: values.namespace ?? (env.TEMPORAL_NAMESPACE || 'default'),
    keysDir: values['keys-dir'],
    api: values.api,
    withoutBodies: values['without-bodies'] ?? false,
    json: values.json ?? false,
  };
}

/** Runs `parley audit export`; returns the exit code. */
export async function runAuditExport(argv: string[], io: CommandIo): Promise<number> {
  const options = parseOptions(argv, io.env);
  // Loaded only now: the Temporal client and the bundle code are not needed for bad usage.
  const { Client, Connection } = await import('@temporalio/client');
  const { fileKeyDirectory } = await import('../../activities/key-directory.ts');
  const { bundleText, exportAuditBundle } = await import('../../audit/export-bundle.ts');
  const { writeFileAtomically } = await import('../../common/write-file-atomically.ts');
  const { bodiesDirectoryBeside } = await import('../../audit/bundle-bodies.ts');
  const { dirname, join } = await import('node:path');
  let keys;
  let blobs;
  if (options.keysDir !== undefined) {
    keys = { directory: fileKeyDirectory(options.keysDir), source: `--keys-dir ${options.keysDir}` };
  } else {
    const { openSession } = await import('../lib/session.ts');
    const { apiKeyDirectory } = await import('../../audit/api-key-directory.ts');
    const session = await openSession(io, options.api);
    keys = { directory: apiKeyDirectory(session.client), source: `the Parley API at ${session.login.api}` };
    blobs = {
      fetch: (runId: string, digest: string, size: number) => session.client.getBlob(runId, digest, size),
      stream: (runId: string, digest: string, size: number) => session.client.getBlobStream(runId, digest, size),
      source: `the Parley API at ${session.login.api}`,
    };
  }
  let connection;
  try {
    connection = await Connection.connect({ address: options.address, connectTimeout: '10s' });
  } catch (err) {
    throw new ParleyError(
      ErrorCode.Unavailable,
      `Cannot reach Temporal at ${options.address}: ${(err as Error).message}. Check --address (or TEMPORAL_ADDRESS) and that the server is running.`,
      { address: options.address },
      { cause: err },
    );
  }
  try {
    const client = new Client({ connection, namespace: options.namespace });
    // Bodies go beside the bundle file; stdout has no beside, so a run with bodies needs a file.
    const bodies = options.withoutBodies ? 'without' as const : options.output === '-' ? undefined : { directory: bodiesDirectoryBeside(options.output) };
    const { bundle, census } = await exportAuditBundle({ client, workflowId: options.workflowId, keys, ...(blobs ? { blobs } : {}), ...(bodies ? { bodies } : {}) });
    const text = bundleText(bundle);
    if (options.output === '-') process.stdout.write(text);
    else await writeFileAtomically(options.output, text);
    const events = bundle.histories.reduce((sum, h) => sum + h.history.events.length, 0);
    const where = options.output === '-' ? 'stdout' : options.output;
    if (census.unreadable > 0) {
      io.err(`Warning: ${census.unreadable} envelope-shaped value(s) in the history did not inspect as envelopes (malformed or altered); they are exported as recorded.`);
    }
    const bodiesLine = census.bodies === 0 ? '' : bundle.bodiesDirectory ? `; ${census.bodies} detached body(ies) in ${join(dirname(where), bundle.bodiesDirectory)}/` : `; ${census.bodies} detached body(ies) left out`;
    const summary = `Wrote ${where}: ${bundle.histories.length} history(ies), ${events} events, ${census.envelopes} envelope(s)${bodiesLine}; public keys of ${census.orgs.join(', ') || 'no organisation'}.`;
    if (options.json) {
      io.err(summary);
      const line = JSON.stringify({ file: where, workflowId: bundle.workflowId, histories: bundle.histories.length, events, envelopes: census.envelopes, bodies: census.bodies, ...(bundle.bodiesDirectory ? { bodiesDirectory: bundle.bodiesDirectory } : {}), orgs: census.orgs });
      if (options.output === '-') io.err(line);
      else io.out(line);
    } else if (options.output === '-') {
      io.err(summary);
    } else {
      io.out(summary);
    }
    return 0;
  } finally {
    await connection.close();
  }
}
