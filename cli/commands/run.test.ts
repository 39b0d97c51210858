/**
 * The data scientist's commands as they use them: `parley chain validate`, `parley run` (problems
 * found locally, before anything is contacted; then started, followed and its result fetched),
 * `parley runs list | show | cancel` and `parley result` — each the real `parley` command, run in
 * this process through main() (the login, reading its password from stdin, as a process), against
 * a real API on a real Temporal server, with a stand-in chain workflow on the coordinator's queue
 * (api/testing/stub-chain-workflow.ts) in a namespace of its own.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createApp } from '../../api/app.ts';
import { ensureAdmin } from '../../api/bootstrap.ts';
import { createTemporalRunLauncher } from '../../api/runs/launcher.ts';
import { startServer, type RunningServer } from '../../api/server.ts';
import { createFederation, createUser, type Federation } from '../../api/testing/fixtures.ts';
import type { Harness } from '../../api/testing/harness.ts';
import { TEST_PASSWORD_COST } from '../../api/testing/harness.ts';
import { login } from '../../api/testing/http.ts';
import { silentLogger } from '../../api/index.ts';
import { writeKeyFile } from '../../activities/key-file.ts';
import { COORDINATOR_TASK_QUEUE } from '../../common/workflow-names.ts';
import { sealEnvelope } from '../../crypto/index.ts';
import { openDatabase, type OpenedDatabase } from '../../db/client.ts';
import { parley as parleyIn, parleyProcess, type Ran } from '../../test/support/parley-cli.ts';

// A whole run followed to its end, on a busy machine.
const SLOW = 240_000;
const digest = (byte: string) => `sha256:${byte.repeat(32)}`;

let root: string;
let env: NodeJS.ProcessEnv;
let database: OpenedDatabase;
let server: RunningServer;
let connection: Connection;
let client: Client;
let workerConnection: NativeConnection;
let worker: Worker;
let workerRunning: Promise<void>;
let fed: Federation;
/** A site step the test holds, until released. */
let hold: { key: string; release: () => void } | undefined;

/** `parley <args>` in this process, as the researcher logged in under `root`/config. */
const parley = (args: string[]) => parleyIn(args, { env });

/** A chain file over the federation's sites, images pinned by digest so no engine is asked. */
function chainYaml(name: string, sites: string[]): string {
  return [
    `# yaml-language-server: $schema=${fileURLToPath(new URL('../../chains/chain.schema.json', import.meta.url))}`,
    'version: 1',
    `name: ${name}`,
    `sites: [${sites.join(', ')}]`,
    'steps:',
    '  - id: preprocess',
    `    image: parley/preprocess@${digest('01')}`,
    '    datasets: [registry]',
    '  - id: analyse',
    `    image: parley/analyse@${digest('02')}`,
    '    after: [preprocess]',
    '  - id: total',
    '    after: [analyse]',
    '    secureSum:',
    '      values: statistics.json',
    `      image: parley/additive-sum@${digest('03')}`,
    '',
  ].join('\n');
}

async function writeChain(name: string, text: string): Promise<string> {
  const file = join(root, name);
  await writeFile(file, text);
  return file;
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'parley-run-cli-'));
  const address = inject('temporalAddress');
  connection = await Connection.connect({ address });
  // A namespace of its own: the real coordinator polls parley.coordinator in `default`.
  const namespace = 'parley-cli-run';
  await connection.workflowService.registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs('1 day') }).catch((err: Error) => {
    if (!/already exists/i.test(err.message)) throw err;
  });
  client = new Client({ connection, namespace });
  database = await openDatabase();
  await ensureAdmin(database.db, { orgId: 'central', orgName: 'Central', username: 'root', password: 'root-password-for-tests', passwordCost: TEST_PASSWORD_COST });
  const app = createApp({ db: database.db, tokenSecret: crypto.getRandomValues(new Uint8Array(32)), runs: createTemporalRunLauncher(client), passwordCost: TEST_PASSWORD_COST, logger: silentLogger });
  server = await startServer(app);
  const h = { app, adminToken: await login(app, 'root', 'root-password-for-tests') } as Harness;
  fed = await createFederation(h);
  env = { ...process.env, PARLEY_CONFIG_DIR: join(root, 'config') };
  const researcher = await createUser(h, fed.lab.id, 'researcher');
  const loggedIn = await parleyProcess(['login', '--api', server.url, '--username', researcher.username, '--password-stdin'], { env, stdin: `${researcher.password}\n` });
  if (loggedIn.code !== 0) throw new Error(loggedIn.stderr);

  try {
    Runtime.install({ logger: new DefaultLogger('ERROR'), telemetryOptions: { logging: { filter: { core: 'ERROR', other: 'ERROR' } } } });
  } catch {
    // already installed in this process
  }
  workerConnection = await NativeConnection.connect({ address });
  worker = await Worker.create({
    connection: workerConnection, namespace, taskQueue: COORDINATOR_TASK_QUEUE,
    workflowsPath: fileURLToPath(new URL('../../api/testing/stub-workflows.ts', import.meta.url)),
    activities: {
      runStep: async ({ step, org }: { step: string; org: string }) => {
        if (hold?.key === `${step}@${org}`) await new Promise<void>((resolve) => (hold!.release = resolve));
      },
    },
  });
  workerRunning = worker.run();
});

afterAll(async () => {
  hold?.release();
  worker?.shutdown();
  await workerRunning;
  await workerConnection?.close();
  await server?.close();
  await connection?.close();
  await database?.close();
  await rm(root, { recursive: true, force: true });
});

/** A site's key file: not the researcher's organisation's. */
async function writeSiteKeys(): Promise<string> {
  const file = join(root, 'site.keys.json');
  await writeKeyFile(file, fed.sites[0]!.keys);
  return file;
}

/** The run `parley run` started, once the API lists it. */
async function startedRun(): Promise<string> {
  const token = JSON.parse(await readFile(join(root, 'config', 'credentials.json'), 'utf8')).token as string;
  for (const deadline = Date.now() + 30_000; Date.now() < deadline;) {
    const res = await fetch(`${server.url}/v1/runs`, { headers: { authorization: `Bearer ${token}` } });
    const { runs } = await res.json() as { runs: Array<{ id: string; status: string }> };
    const running = runs.find((r) => r.status === 'running');
    if (running) return running.id;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('no run started');
}

describe('parley chain validate and parley run', () => {
  it('validates a chain file: OK, or each problem as file:line:column: path: message with exit 2', async () => {
    const sites = fed.sites.map((s) => s.id);
    const good = await writeChain('good.yaml', chainYaml('cohort-mean', sites));
    const bad = await writeChain('bad.yaml', chainYaml('cohort-mean', sites).replace('after: [preprocess]', 'after: [total]').replace('datasets: [registry]', 'datasets: [registry]\n    timeoutSecs: 5'));
    const later = await writeChain('later.yaml', chainYaml('cohort-mean', sites).replace('after: [preprocess]', 'after: [total]'));
    const [ok, refused, rules] = await Promise.all([good, bad, later].map((file) => parley(['chain', 'validate', file]))) as [Ran, Ran, Ran];
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/^OK: .*good\.yaml is a valid chain "cohort-mean" of 3 step\(s\): preprocess → analyse → total/);

    expect(refused.code).toBe(2);
    expect(refused.stderr.split('\n').slice(0, 1)).toEqual([`${bad}:9:5: steps[0].timeoutSecs: unknown key "timeoutSecs"; did you mean "timeoutSeconds"? Allowed here: id, image, at, datasets, args, after, inputs, timeoutSeconds.`]);
    expect(rules.code).toBe(2);
    expect(rules.stderr).toContain(`later.yaml:11:13: steps[1].after[0]: names "total", which comes later (steps[2]); after may only name earlier steps. Move "total" before "analyse".`);
  });

  it('refuses a bad chain or an image it cannot pin before contacting anything, and bad usage, with exit 2', async () => {
    const bad = await writeChain('two-sites.yaml', chainYaml('cohort-mean', fed.sites.slice(0, 2).map((s) => s.id)));
    // Pointed at a server that is not there: had it got as far as the API, it would exit 1.
    const unbuilt = await writeChain('unbuilt.yaml', chainYaml('cohort-mean', fed.sites.map((s) => s.id)).replace(`parley/analyse@${digest('02')}`, 'parley/not-built-here'));
    const [ran, usage, unknownVerb, unknownImage, badTolerance] = await Promise.all([
      parley(['run', bad, '--api', 'http://127.0.0.1:1']), parley(['run', bad, '--sites', 'a,a']), parley(['runs', 'rerun']),
      // Pinned on this machine's Docker engine, which has no such image.
      parley(['run', unbuilt, '--api', 'http://127.0.0.1:1']),
      parley(['run', bad, '--site-down-tolerance', '15 minutes']),
    ]);
    expect(unknownImage.code).toBe(2);
    expect(unknownImage.stderr).toContain(`${unbuilt}:10:12: steps[1].image: step "analyse": image parley/not-built-here is not known here, so it cannot be pinned by digest. Build or pull it, or pin it as parley/not-built-here@sha256:<digest>.`);
    expect(ran.code).toBe(2);
    expect(ran.stderr).toMatch(/two-sites\.yaml:4:8: sites: lists 2 site\(s\), but step "total" is a secure sum/);
    expect(ran.stderr).toMatch(/Nothing was started\./);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/--sites lists "a" twice/);
    expect(unknownVerb.code).toBe(2);
    expect(badTolerance.code).toBe(2);
    expect(badTolerance.stderr).toContain('--site-down-tolerance must be a duration from 1s to a week, such as 90s, 30m or 2h; got "15 minutes".');
  });

  it('starts a chain signed with the organisation\'s key, follows it per step and site, and opens its outputs', async () => {
    const sites = fed.sites.map((s) => s.id).sort();
    const file = await writeChain('run.yaml', chainYaml('cohort-mean', sites));
    hold = { key: `preprocess@${sites[1]}`, release: () => undefined };
    const keyFile = join(root, 'lab.keys.json');
    await writeKeyFile(keyFile, fed.lab.keys);
    // The key signs the run's manifest, and with --wait opens its outputs.
    const running = parley(['run', file, '--key', keyFile, '--collab', fed.collaboration.name, '--wait', '--site-down-tolerance', '20m']);
    const runId = await startedRun();
    // The tolerance reaches the workflow's input through the API (it is not signed: no site checks it).
    const history = await client.workflow.getHandle(runId).fetchHistory();
    const [startInput] = history.events![0]!.workflowExecutionStartedEventAttributes!.input!.payloads!;
    expect(JSON.parse(Buffer.from(startInput!.data!).toString('utf8'))).toMatchObject({ siteDownToleranceMs: 20 * 60_000 });

    const [shown, listed] = await Promise.all([parley(['runs', 'show', runId]), parley(['runs', 'list'])]);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toContain(`${runId}: chain cohort-mean, running; at ${sites.join(', ')}`);
    expect(shown.stdout).toMatch(new RegExp(`preprocess\\s+@ ${sites[1]}\\s+(scheduled|running)`));
    expect(shown.stdout).toMatch(new RegExp(`total\\s+@ ${sites[0]}\\s+pending`));
    expect(listed.stdout).toMatch(new RegExp(`${runId}\\s+running\\s+chain cohort-mean`));

    const outputs = await Promise.all([sites[0]!].map(async (org) => ({
      step: 'total', boundStep: 'total.combine', org,
      envelope: await sealEnvelope({
        binding: { runId, step: 'total.combine', from: org, to: [fed.lab.id], seq: 3 },
        body: new TextEncoder().encode('{"totals":["1"]}'),
        sender: fed.sites.find((s) => s.id === org)!.keys,
        recipients: [{ org: fed.lab.id, receiveJwk: fed.lab.keys.receive.publicJwk }],
      }),
    })));
    await client.workflow.getHandle(runId).signal('finish', { result: { runId, chain: 'cohort-mean', outputs, steps: [] } });
    hold.release();
    const ran = await running;
    expect(ran.code, ran.stderr).toBe(0);
    expect(ran.stderr).toContain(`Started run ${runId}: chain "cohort-mean" at ${sites.join(', ')}`);
    for (const org of sites) expect(ran.stderr).toMatch(new RegExp(`analyse\\s+@ ${org}\\s+done`));
    expect(ran.stderr).toMatch(new RegExp(`preprocess\\s+@ ${sites[1]}\\s+done`));
    expect(ran.stdout).toMatch(/totals/);

    const [sealed, opened, otherKey] = await Promise.all([
      parley(['result', runId, '--json']),
      parley(['result', runId, '--key', keyFile, '--json']),
      parley(['result', runId, '--key', await writeSiteKeys()]),
    ]);
    expect(sealed.code, sealed.stderr).toBe(0);
    expect(JSON.parse(sealed.stdout)).toEqual({ runId, opened: false, sealed: [{ step: 'total', boundStep: 'total.combine', org: sites[0], recipients: [fed.lab.id] }] });
    expect(opened.code, opened.stderr).toBe(0);
    expect(JSON.parse(opened.stdout)).toEqual({ runId, opened: true, outputs: [{ step: 'total', org: sites[0], reading: { kind: 'json', content: { totals: ['1'] } } }] });
    expect(otherKey.code).toBe(1);
    expect(otherKey.stderr).toMatch(/holds the keys of ".*", but results are sealed for your organisation/);
  }, SLOW);

  it('cancels a running chain, and says so when it has already ended', async () => {
    const sites = fed.sites.map((s) => s.id).sort();
    hold = { key: `preprocess@${sites[0]}`, release: () => undefined };
    const keyFile = join(root, 'lab-cancel.keys.json');
    await writeKeyFile(keyFile, fed.lab.keys);
    const started = await parley(['run', await writeChain('cancel.yaml', chainYaml('to-cancel', sites)), '--key', keyFile, '--json']);
    expect(started.code, started.stderr).toBe(0);
    const { id: runId } = JSON.parse(started.stdout) as { id: string };
    const cancelled = await parley(['runs', 'cancel', runId]);
    expect(cancelled.code, cancelled.stderr).toBe(0);
    expect(cancelled.stdout).toContain(`Cancellation of ${runId} requested`);
    await client.workflow.getHandle(runId).result().catch(() => undefined);
    hold.release();
    const again = await parley(['runs', 'cancel', runId]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already cancelled/);
    const shown = await parley(['runs', 'show', runId, '--json']);
    expect(JSON.parse(shown.stdout).progress.status).toBe('cancelled');
  }, SLOW);
});
