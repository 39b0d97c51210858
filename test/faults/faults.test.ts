/**
 * The fault suite (`npm run test:faults`): Parley's parts as separate processes — a Temporal dev
 * server on a database file, the API on PostgreSQL, the coordinator and three site workers
 * (test/support/fault-federation.ts) — and, in the middle of a chain's step and in the middle of
 * a secure sum's step, a SIGKILL of each part in turn, then its restart. After each: the run
 * completes with the plain computation's result, no site's figure appears in its history, and no
 * container or volume of the run, no blob and no step workspace is left.
 *
 * "In the middle" is an event, not a delay: the kill comes once the Docker engine reports the
 * container of the chosen step at the chosen site started (the step is then running at the site,
 * and the workflow is waiting on it).
 */
import { randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { ApplicationFailure, WorkflowFailedError } from '@temporalio/client';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChainResult, ChainSpec } from '../../common/chain.ts';
import { exampleChain } from '../../demo/example-chain.ts';
import { createDockerClient } from '../../provision/docker-engine.ts';
import { ensureExampleImages, type ExampleImages } from '../../provision/images.ts';
import { ErrorCode } from '../../common/errors.ts';
import { Label } from '../../activities/sandbox/contract.ts';
import { DEFAULT_MODULUS, startChain, startChainThroughApi, startSecureSumThroughApi } from '../../researcher/runs.ts';
import type { SecureSumResult } from '../../workflows/secure-sum-ring.ts';
import { containerStarted } from '../support/docker-events.ts';
import { Part, startFaultFederation, type FaultFederation, type Killable } from '../support/fault-federation.ts';
import { historyText, plaintextFound } from '../support/history-scan.ts';
import { parley, lastJsonLine } from '../support/parley-cli.ts';
import { runLeftovers } from '../support/run-leftovers.ts';
import { columnValues, plainMoments, referenceCohort, referenceValues, registryPath } from '../support/statistics-steps.ts';

/**
 * How long a killed site worker stays down before it is started again (PARLEY_FAULTS_SITE_DOWN_S,
 * default 30 s). Anything past the steps' 5 s heartbeat timeout exercises the same path — the
 * step's attempt times out while the site is down, and its retry waits on the site's queue until
 * it is back — so a quicker local run may set less.
 */
const SITE_DOWN_MS = Number(process.env.PARLEY_FAULTS_SITE_DOWN_S ?? 30) * 1000;

const LETTERS = ['a', 'b', 'c'] as const;

let docker: Docker;
let images: ExampleImages;
let chain: ChainSpec;
let fed: FaultFederation;
/** How long each run took from the kill to its result, for the report. */
const recovery: Array<{ part: Part; run: string; ms: number }> = [];

beforeAll(async () => {
  docker = createDockerClient();
  images = await ensureExampleImages(docker, () => {});
  chain = await exampleChain(images);
  fed = await startFaultFederation({ prefix: `flt${process.pid % 10_000}`, sites: LETTERS.length, images, docker });
}, 300_000);

afterAll(async () => {
  if (recovery.length > 0) console.info(`recovery after each kill (kill → result):\n${recovery.map((r) => `  ${r.part.padEnd(12)} ${r.run.padEnd(10)} ${(r.ms / 1000).toFixed(1)} s`).join('\n')}`);
  await fed?.stop();
});

/** The plain computation over the three registries, as no real deployment could make it. */
async function plainStatistics() {
  const pre = chain.steps.find((s) => s.id === 'preprocess')!;
  const ana = chain.steps.find((s) => s.id === 'analyse')!;
  if (pre.kind !== 'container' || ana.kind !== 'container') throw new Error('unexpected example chain');
  const where = pre.args.where as never;
  const column = ana.args.column as string;
  const xs: number[] = [];
  const perSite: bigint[] = [];
  for (const letter of LETTERS) {
    const { columns, rows } = referenceCohort(await readFile(registryPath(letter), 'utf8'), where);
    xs.push(...columnValues(columns, rows, column));
    perSite.push(...referenceValues(columns, rows, column, ana.args.decimals as number, ana.args.bins as number[]));
  }
  return { ...plainMoments(xs), perSite };
}

function partOf(part: Part, victim: string): Killable {
  if (part === Part.Site) return fed.site(victim);
  if (part === Part.Coordinator) return fed.coordinator;
  if (part === Part.Api) return fed.apiServer;
  return fed.temporal;
}

/** The step containers to kill in: a chain's own step, and the ring's middle step. */
const RUNS = {
  chain: { step: 'analyse', site: 1 },
  'secure sum': { step: 'add', site: 1 },
} as const;

/** The run's step workspaces left at each site (each site's state directory, `steps/`). */
async function workspacesLeft(): Promise<string[]> {
  const left: string[] = [];
  for (const org of fed.sites) {
    const dir = join(fed.root, 'sites', org, 'state', 'steps');
    left.push(...(await readdir(dir).catch(() => [])).map((f) => `${org}/${f}`));
  }
  return left;
}

describe('a SIGKILLed part, restarted, and every run still ends correctly', () => {
  it.each([
    [Part.Site, 'chain'], [Part.Site, 'secure sum'],
    [Part.Coordinator, 'chain'], [Part.Coordinator, 'secure sum'],
    [Part.Api, 'chain'], [Part.Api, 'secure sum'],
    [Part.Temporal, 'chain'], [Part.Temporal, 'secure sum'],
  ] as const)('kill the %s in the middle of a %s', async (part, kind) => {
    const victim = fed.sites[RUNS[kind].site]!;
    // Listened for before the run starts: the event cannot be missed.
    let runId = '';
    const started = containerStarted(docker, (labels) => labels['parley.run'] === runId && labels['parley.site'] === victim && labels['parley.step']!.endsWith(RUNS[kind].step));
    const run = kind === 'chain'
      ? await startChainThroughApi(fed.api, fed.signer, { chain, participants: fed.sites })
      : await startSecureSumThroughApi(fed.api, fed.signer, { participants: fed.sites, modulus: DEFAULT_MODULUS, dataset: 'count', image: images.secureSum });
    runId = run.id;
    const handle = fed.client.workflow.getHandle(runId);
    // A run that ends before the step starts fails the test instead of leaving it waiting.
    await Promise.race([started, handle.result().then(() => {
      throw new Error(`run ${runId} ended before step ${RUNS[kind].step} started at ${victim}`);
    })]);

    const killable = partOf(part, victim);
    const killedAt = Date.now();
    await killable.kill();
    // A site is down for a while (its operator notices, or an init system restarts it later);
    // the central parts come back at once, as a supervisor restarts them.
    if (part === Part.Site) await delay(SITE_DOWN_MS);
    await killable.start();

    const result = (await handle.result()) as ChainResult | SecureSumResult;
    recovery.push({ part, run: kind, ms: Date.now() - killedAt });

    // The researcher opens the result through the API, as `parley result` does.
    const opened = await parley(['result', runId, '--key', join(fed.root, 'researcher', 'keys.json'), '--json'], { env: { ...process.env, PARLEY_CONFIG_DIR: join(fed.root, 'researcher') } });
    expect(opened.code, opened.stderr).toBe(0);
    const outputs = lastJsonLine<{ outputs: Array<Record<string, unknown>> }>(opened.stdout).outputs;
    const history = await historyText(handle);
    if (part === Part.Site) {
      // The killed site's step ran again — a second attempt — and the run's result is still exact.
      const events = (await handle.fetchHistory()).events ?? [];
      expect(events.some((e) => (e.activityTaskStartedEventAttributes?.attempt ?? 1) > 1)).toBe(true);
    }
    if (kind === 'chain') {
      const plain = await plainStatistics();
      const stats = (outputs[0] as { reading?: { statistics?: { count: number; mean: number; variance: number } } }).reading?.statistics;
      expect(stats, JSON.stringify(outputs)).toBeDefined();
      expect(stats!.count).toBe(plain.count);
      expect(stats!.mean).toBeCloseTo(plain.mean, 9);
      expect(stats!.variance).toBeCloseTo(plain.variance, 9);
      expect((result as ChainResult).outputs.map((o) => o.step)).toEqual(['total']);
      expect(plaintextFound(history, plain.perSite.filter((figure) => figure >= 100_000n))).toEqual([]);
    } else {
      const total = [...fed.counts.values()].reduce((a, b) => a + b, 0n);
      expect(JSON.stringify(outputs)).toContain(String(total));
      expect(plaintextFound(history, [...fed.counts.values(), total])).toEqual([]);
    }
    expect(await runLeftovers(docker, runId)).toEqual({ containers: 0, volumes: 0 });
    expect(await workspacesLeft()).toEqual([]);
  }, 240_000);
});

describe('a site down for longer than the run\'s site-down tolerance', () => {
  it('fails the run naming the site and what to do, and the site removes the run\'s volume when it returns', async () => {
    const victim = fed.sites[1]!;
    const runId = `run-${randomUUID()}`;
    const started = containerStarted(docker, (labels) => labels[Label.Run] === runId && labels[Label.Site] === victim && labels[Label.Step] === 'analyse');
    // Seconds, not the default 15 minutes: the run fails once the step's retry has waited this
    // long on the site's queue (after the 5 s heartbeat timeout noticed the dead worker).
    const handle = await startChain(fed.client, { chain, participants: fed.sites, requester: fed.signer.keys.org, signer: fed.signer, siteDownToleranceMs: 3_000 }, runId);
    await started;
    // Stopped for real: SIGKILLed, and not started again until the run has failed.
    await fed.site(victim).kill();

    const failure = await handle.result().then(() => undefined, (err: unknown) => err);
    expect(failure).toBeInstanceOf(WorkflowFailedError);
    const cause = (failure as WorkflowFailedError).cause;
    expect(cause).toBeInstanceOf(ApplicationFailure);
    expect((cause as ApplicationFailure).type).toBe(ErrorCode.SiteDown);
    expect(cause!.message).toBe(`Site "${victim}" did not answer for 3 s: step "analyse" waited on its queue site.${victim} and no worker of the site took it. Ask its operator to start its worker (\`parley site start\`), then run again; its run volume is removed when the worker starts.`);
    // The sites that answered removed their volumes; the one that is down still holds its own.
    const volumes = (await docker.listVolumes({ filters: JSON.stringify({ label: [`${Label.Run}=${runId}`] }) })).Volumes ?? [];
    expect(volumes.map((v) => v.Labels[Label.Site])).toEqual([victim]);

    // Its return: the worker's start-up sweep removes the volume (and the step's stranded container).
    await fed.site(victim).start();
    expect(await runLeftovers(docker, runId)).toEqual({ containers: 0, volumes: 0 });
    expect(await workspacesLeft()).toEqual([]);
  }, 120_000);
});
