/** Installing Debian packages during provisioning, showing apt's progress and errors. */
import { spawn } from 'node:child_process';
import type { Progress } from './temporal-cli.ts';

function aptGet(args: string[], progress: Progress): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn('apt-get', args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    for (const stream of [child.stdout, child.stderr]) {
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => {
        for (const line of chunk.split('\n')) if (line.startsWith('Setting up') || line.startsWith('E:')) progress(`  ${line}`);
      });
    }
    child.on('error', () => resolve(127));
    child.on('close', (code) => resolve(code ?? 1));
  });
}

/**
 * `apt-get install -y <packages>`; when that fails (a fresh machine has no package lists yet),
 * `apt-get update` and one more try. Resolves whether the install succeeded.
 */
export async function aptInstall(packages: string[], progress: Progress): Promise<boolean> {
  const install = ['install', '-y', '-q', ...packages];
  if ((await aptGet(install, progress)) === 0) return true;
  await aptGet(['update', '-q'], progress);
  return (await aptGet(install, progress)) === 0;
}
