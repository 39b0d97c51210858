/** `parley audit open`: an organisation reads, from a run's bundle, what was sealed for it. */
import { parseUsage, UsageError, type CommandIo } from '../lib/command.ts';

export const openUsage = [
  'Usage: parley audit open <file> --key <org key file> [--keys-dir DIR] [--json]',
  '',
  'Opens, with your organisation\'s private key, only the envelopes in the run sealed for it, each',
  'verified against its sender\'s published key and the run it was found in; lists the others as',
  '"not for you". Prints each envelope\'s step, sender, sequence number and, when opened, its JSON.',
  'A large message\'s body is read from the bundle\'s bodies directory (run.audit.bodies/ beside',
  'run.audit.json), checked against its signed length and SHA-256, then decrypted.',
  'Exit 1 when an envelope sealed for you does not open.',
  '',
  '  --key FILE      your organisation\'s key file (mode 0600; never leaves this machine)',
  '  --keys-dir DIR  <org>.json public-key files to use instead of the bundle\'s',
  '  --json          print one JSON line per envelope',
].join('\n');

function parseOptions(argv: string[]) {
  const parsed = parseUsage({
    args: argv,
    options: { key: { type: 'string' }, 'keys-dir': { type: 'string' }, json: { type: 'boolean', default: false } },
    strict: true,
    allowPositionals: true,
  });
  const [file, ...extra] = parsed.positionals;
  if (file === undefined) throw new UsageError('missing <file>: give an audit bundle.');
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}".`);
  if (parsed.values.key === undefined) throw new UsageError('missing --key: the key file of the organisation opening its envelopes.');
  return { file, key: parsed.values.key, keysDir: parsed.values['keys-dir'], json: parsed.values.json ?? false };
}

/** Runs `parley audit open`; returns the exit code. */
export async function runAuditOpen(argv: string[], io: CommandIo): Promise<number> {
  const options = parseOptions(argv);
  const { readKeyFile } = await import('../../activities/key-file.ts');
  const { readAuditFile } = await import('../../audit/read-audit-file.ts');
  const { openForOrg } = await import('../../audit/open-for-org.ts');
  const keys = await readKeyFile(options.key);
  const { histories, publicKeys, blobs, bodies } = await readAuditFile(options.file, { keysDir: options.keysDir });
  const entries = await openForOrg(histories, keys, publicKeys, { blobs, bodies });
  const width = Math.max(4, ...entries.map((e) => e.step.length));
  for (const e of entries) {
    if (options.json) {
      io.out(JSON.stringify(e));
      continue;
    }
    const body = e.detached ? `  (body detached: ${e.detached.size} bytes, SHA-256 ${e.detached.digest})` : '';
    const head = `${e.step.padEnd(width)}  from ${e.from} #${e.seq} → ${e.to.join(',')}${body}`;
    if (e.status === 'opened') io.out(`${head}\n    ${JSON.stringify(e.content)}`);
    else if (e.status === 'refused') io.out(`${head}\n    REFUSED: ${e.problem}`);
    else io.out(`${head}  (not for you)`);
  }
  const opened = entries.filter((e) => e.status === 'opened').length;
  const refused = entries.filter((e) => e.status === 'refused').length;
  io.err(`${opened} envelope(s) opened for "${keys.org}", ${entries.length - opened - refused} not for you${refused ? `, ${refused} refused` : ''}.`);
  return refused === 0 ? 0 : 1;
}
