/**
 * `parley demo` as a user runs it: the real command in a child process, against the test run's
 * Temporal server and the real Docker engine.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import Docker from 'dockerode';
import { describe, expect, inject, it } from 'vitest';
import { parse } from 'yaml';
import { columnValues, plainMoments, referenceCohort, registryPath, type Condition } from '../../test/support/statistics-steps.ts';
import { runLeftovers } from '../../test/support/run-leftovers.ts';

const bin = fileURLToPath(new URL('../../bin/parley.js', import.meta.url));

/** The example chain's cohort, computed plainly over the registries' CSVs (test/support/statistics-steps.ts). */
async function plainCohort(letters: Array<'a' | 'b' | 'c'>): Promise<{ count: number; mean: number; variance: number }> {
  const chain = parse(await readFile(fileURLToPath(new URL('../../examples/chains/cohort-mean.yaml', import.meta.url)), 'utf8')) as {
    steps: Array<{ id: string; args?: { where?: Condition[]; column?: string } }>;
  };
  const where = chain.steps.find((s) => s.id === 'preprocess')!.args!.where!;
  const column = chain.steps.find((s) => s.id === 'analyse')!.args!.column!;
  const xs: number[] = [];
  for (const letter of letters) {
    const { columns, rows } = referenceCohort(await readFile(registryPath(letter), 'utf8'), where);
    xs.push(...columnValues(columns, rows, column));
  }
  return plainMoments(xs);
}

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

function parley(args: string[], options: { onStderr?: (text: string, child: ReturnType<typeof spawn>) => void; env?: NodeJS.ProcessEnv } = {}): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], {
      env: { ...process.env, TEMPORAL_ADDRESS: inject('temporalAddress'), ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
      options.onStderr?.(stderr, child);
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('parley demo', () => {
  it('prints the sum of the given counts and ends with one JSON line', async () => {
    const ran = await parley(['demo', '--counts', '120,45,310', '--json']);
    expect(ran.code, ran.stderr).toBe(0);
    const last = JSON.parse(ran.stdout.trim().split('\n').at(-1)!) as { result: number; workflowId: string; sites: string[]; match: boolean };
    expect(last.result).toBe(475);
    expect(last.match).toBe(true);
    expect(last.sites).toEqual(['registry-a', 'registry-b', 'registry-c']);
    expect(last.workflowId).toMatch(/^run-/);
    expect(ran.stderr).toMatch(/ring\.3\.finish/);
    expect(await runLeftovers(new Docker(), last.workflowId)).toEqual({ containers: 0, volumes: 0 });
  });

  it('with --chain runs the example chain and prints the cohort\'s count, mean and variance as the plain computation over the example registries gives them', async () => {
    const ran = await parley(['demo', '--chain', '--json']);
    expect(ran.code, ran.stderr).toBe(0);
    const last = JSON.parse(ran.stdout.trim().split('\n').at(-1)!) as { chain: string; count: number; mean: number; variance: number; sd: number; workflowId: string };
    const plain = await plainCohort(['a', 'b', 'c']);
    expect(last.chain).toBe('cohort-mean');
    expect(last.count).toBe(plain.count);
    expect(last.mean).toBeCloseTo(plain.mean, 9);
    expect(last.variance).toBeCloseTo(plain.variance, 9);
    expect(last.sd).toBeCloseTo(Math.sqrt(plain.variance), 9);
    expect(ran.stderr).toMatch(/total\.additive\.2\.combine/);
    expect(await runLeftovers(new Docker(), last.workflowId)).toEqual({ containers: 0, volumes: 0 });
  });

  it('refuses bad usage with exit code 2 and says what is wrong', async () => {
    const tooFew = await parley(['demo', '--counts', '1,2']);
    expect(tooFew.code).toBe(2);
    expect(tooFew.stderr).toMatch(/--counts needs at least 3 counts/);
    const notANumber = await parley(['demo', '--counts', '1,x,3']);
    expect(notANumber.code).toBe(2);
    expect(notANumber.stderr).toMatch(/item 2 \("x"\) is not a non-negative whole number/);
    const chainCounts = await parley(['demo', '--chain', '--counts', '1,2,3']);
    expect(chainCounts.code).toBe(2);
    expect(chainCounts.stderr).toMatch(/--chain reads the example registries/);
    const chainSites = await parley(['demo', '--chain', '--sites', '7']);
    expect(chainSites.code).toBe(2);
    expect(chainSites.stderr).toMatch(/--chain runs over 3 to 5 sites/);
    const unknown = await parley(['demo', '--frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/Usage: parley demo/);
  });

  it('uses the engine DOCKER_HOST names, and says so when none answers there', async () => {
    const ran = await parley(['demo', '--counts', '1,2,3'], { env: { DOCKER_HOST: 'tcp://127.0.0.1:9' } });
    expect(ran.code).toBe(1);
    expect(ran.stderr).toMatch(/No Docker engine answers at DOCKER_HOST=tcp:\/\/127\.0\.0\.1:9\. Start that engine, or unset DOCKER_HOST/);
  });

  it('stops cleanly on Ctrl-C: the run is cancelled and nothing it created remains', async () => {
    let workflowId = '';
    let interrupted = false;
    const ran = await parley(['demo', '--sites', '3'], {
      onStderr(text, child) {
        const started = /Ring secure sum started[^:]*: workflow (\S+)/.exec(text);
        if (started && !interrupted) {
          interrupted = true;
          workflowId = started[1]!;
          child.kill('SIGINT');
        }
      },
    });
    expect(interrupted).toBe(true);
    expect(ran.code).toBe(130);
    expect(ran.stderr).toMatch(/run was cancelled/);
    expect(await runLeftovers(new Docker(), workflowId)).toEqual({ containers: 0, volumes: 0 });
  });
});
