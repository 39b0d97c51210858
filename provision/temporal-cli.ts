/**
 * Finds the Temporal CLI (which holds the dev server), or builds it with `go install` into
 * Parley's cache. The SDK is never allowed to download a server: this is the only source.
 */
import { spawn } from 'node:child_process';
import { access, constants, mkdir, rename, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { ErrorCode, ParleyError } from '../common/errors.ts';

/** The module and tag we build; later tags carry a `replace` directive and cannot be go-installed. */
export const TEMPORAL_CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal';
export const TEMPORAL_CLI_VERSION = 'v1.5.1';

export type Progress = (line: string) => void;

/** Where Parley caches binaries it builds: `$XDG_CACHE_HOME/parley/bin` or `~/.cache/parley/bin`. */
export function parleyBinDir(env: NodeJS.ProcessEnv = process.env): string {
  const cache = env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(cache, 'parley', 'bin');
}

async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Looks for `temporal`: $PARLEY_TEMPORAL_CLI, then PATH, then Parley's cache. */
export async function findTemporalCli(env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  const candidates = [
    env.PARLEY_TEMPORAL_CLI,
    ...(env.PATH ?? '').split(delimiter).filter(Boolean).map((dir) => join(dir, 'temporal')),
    join(parleyBinDir(env), 'temporal'),
  ];
  for (const candidate of candidates) {
    if (candidate && (await isExecutable(candidate))) return candidate;
  }
  return undefined;
}

/**
 * Returns the path of a usable Temporal CLI, building it with `go install` when none is found.
 * Throws a Prerequisite error naming what to run when Go is missing or the build fails.
 */
export async function ensureTemporalCli(progress: Progress, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const found = await findTemporalCli(env);
  if (found) return found;

  const binDir = parleyBinDir(env);
  // Build into a staging dir and rename, so an interrupted build never leaves a half-written binary.
  const staging = join(binDir, `.staging-${process.pid}`);
  await mkdir(staging, { recursive: true });
  progress(`Building the Temporal CLI ${TEMPORAL_CLI_VERSION} with go install (takes a few minutes, once)…`);
  const started = Date.now();
  try {
    await runGoInstall(staging, progress, env);
    await rename(join(staging, 'temporal'), join(binDir, 'temporal'));
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  progress(`Temporal CLI built in ${Math.round((Date.now() - started) / 1000)} s: ${join(binDir, 'temporal')}`);
  return join(binDir, 'temporal');
}

function runGoInstall(gobin: string, progress: Progress, env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('go', ['install', `${TEMPORAL_CLI_MODULE}@${TEMPORAL_CLI_VERSION}`], {
      env: { ...env, GOBIN: gobin, GOFLAGS: env.GOFLAGS ?? '-buildvcs=false' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const tail: string[] = [];
    let downloads = 0;
    const onLine = (line: string) => {
      if (!line.trim()) return;
      tail.push(line);
      if (tail.length > 15) tail.shift();
      // `go: downloading …` is the only progress go install gives; show every 20th and errors.
      if (line.startsWith('go: downloading')) {
        downloads += 1;
        if (downloads % 20 === 1) progress(`  ${line} (${downloads} modules so far)`);
      } else {
        progress(`  ${line}`);
      }
    };
    for (const stream of [child.stdout, child.stderr]) {
      let buffered = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => {
        buffered += chunk;
        const lines = buffered.split('\n');
        buffered = lines.pop() ?? '';
        lines.forEach(onLine);
      });
    }
    child.on('error', (err) =>
      reject(
        new ParleyError(
          ErrorCode.Prerequisite,
          'The Temporal CLI is not installed and Go is not available to build it.\n' +
            `Install Go, or install the CLI yourself: go install ${TEMPORAL_CLI_MODULE}@${TEMPORAL_CLI_VERSION} ` +
            '(or set PARLEY_TEMPORAL_CLI to its path), or set TEMPORAL_ADDRESS to use a running server.',
          {},
          { cause: err },
        ),
      ),
    );
    child.on('close', (code) => {
      if (code === 0) return resolve();
      reject(
        new ParleyError(
          ErrorCode.Prerequisite,
          `Building the Temporal CLI failed (go install exited ${code}). Its last lines:\n${tail.join('\n')}\n` +
            `If a module was refused by the module proxy it is named above; retry with ` +
            `go install ${TEMPORAL_CLI_MODULE}@${TEMPORAL_CLI_VERSION}, or set PARLEY_TEMPORAL_CLI to an existing binary.`,
        ),
      );
    });
  });
}
