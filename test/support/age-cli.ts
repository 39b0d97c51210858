/**
 * The age CLI (filippo.io/age, the reference implementation of C2SP age v1), for the tests that
 * check Parley's streamed body against it. `.ci/run` builds it once with go install into
 * Parley's cache; a machine that has `age` on PATH uses that.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** Where `.ci/run` puts the binaries it builds. */
const CACHED_BIN = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'parley', 'bin');

/** The age binary's path; throws, saying how to get it, when neither the cache nor PATH has one. */
export function ageBinary(): string {
  const cached = join(CACHED_BIN, 'age');
  if (existsSync(cached)) return cached;
  try {
    return execFileSync('sh', ['-c', 'command -v age'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error(`The age CLI is not at ${cached} nor on PATH. Build it as .ci/run does: GOBIN=${CACHED_BIN} go install filippo.io/age/cmd/age@v1.3.2`);
  }
}

/** Runs `age args…` with `stdin`, resolving to its stdout; rejects with its stderr when it fails. */
export function runAge(args: string[], stdin: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn(ageBinary(), args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve(Buffer.concat(out)) : reject(new Error(`age ${args.join(' ')} exited with ${code}: ${Buffer.concat(err).toString().trim()}`))));
    child.stdin.on('error', () => {}); // age may stop reading before stdin ends when it fails
    child.stdin.end(stdin);
  });
}
