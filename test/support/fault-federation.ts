/**
 * A federation of separate processes for the fault suite (test/faults/): a Temporal dev server
 * with its histories in a database file, `parley server start` on a throwaway PostgreSQL,
 * `parley coordinator start`, and one `parley site start` per site — each a part the suite can
 * SIGKILL and start again, as a crash and a restart by an operator or an init system would.
 *
 * The federation is registered as `parley dev up` registers its own (cli/lib/dev-federation.ts);
 * each site also allows the example images in their roles and holds a dataset `count`, a number,
 * for the plain ring secure sum.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type Docker from 'dockerode';
import { parseDocument } from 'yaml';
import { createApiClient, type ApiClient } from '../../activities/api-client.ts';
import { readKeyFile } from '../../activities/key-file.ts';
import { registerDevFederation, storeLogin } from '../../cli/lib/dev-federation.ts';
import type { DevState } from '../../cli/lib/dev-state.ts';
import { freePort } from '../../provision/free-port.ts';
import type { ExampleImages } from '../../provision/images.ts';
import { ensureTemporalCli } from '../../provision/temporal-cli.ts';
import { startTemporalDevServer, type TemporalDevServer } from '../../provision/temporal-dev-server.ts';
import type { RunSigner } from '../../researcher/runs.ts';
import { parley, startParley, startSiteCommand, type ParleyDaemon } from './parley-cli.ts';
import { startTestPostgres, type TestPostgres } from './postgres-server.ts';

/** The parts of the federation, each its own process. */
export const Part = { Site: 'site', Coordinator: 'coordinator', Api: 'api', Temporal: 'temporal' } as const;
export type Part = (typeof Part)[keyof typeof Part];

/** A process the suite kills and starts again. */
export interface Killable {
  /** SIGKILL: no shutdown hook runs, as in a crash or an OOM kill. Resolves once it has exited. */
  kill(): Promise<void>;
  /** Starts it again with the same configuration; resolves once it says it is ready. */
  start(): Promise<void>;
}

export interface FaultFederation {
  root: string;
  temporalAddress: string;
  /** A Temporal client of the test's own (not a part: it reconnects after a server restart). */
  client: Client;
  /** The API as the researcher. */
  api: ApiClient;
  signer: RunSigner;
  sites: string[];
  /** Each site's `count`, for the plain secure sum. */
  counts: Map<string, bigint>;
  temporal: Killable;
  apiServer: Killable;
  coordinator: Killable;
  site(org: string): Killable;
  /** The log of a part, for a failed test's message. */
  logs(): string;
  stop(): Promise<void>;
}

/** One `parley …` daemon, restartable with the same arguments. */
function daemonPart(start: () => Promise<ParleyDaemon>, keep: Set<ParleyDaemon>): Killable {
  let current: ParleyDaemon | undefined;
  return {
    async start() {
      current = await start();
      keep.add(current);
    },
    async kill() {
      if (!current) return;
      await current.stop('SIGKILL');
      keep.delete(current);
      current = undefined;
    },
  };
}

/**
 * Starts and registers the federation under a new temporary directory.
 * `prefix` names its organisations (`<prefix>-a` …, `<prefix>-researcher`).
 */
export async function startFaultFederation(options: { prefix: string; sites: number; images: ExampleImages; docker: Docker }): Promise<FaultFederation> {
  const root = await mkdtemp(join(tmpdir(), 'parley-faults-'));
  const daemons = new Set<ParleyDaemon>();
  let postgres: TestPostgres | undefined;
  let temporalServer: TemporalDevServer | undefined;
  let connection: Connection | undefined;
  // The dev server runs in a process group of its own: a test process that is itself killed
  // (a timeout) takes it along instead of leaving it running.
  const killTemporalOnExit = () => void temporalServer?.kill();
  process.once('exit', killTemporalOnExit);
  const stop = async () => {
    process.off('exit', killTemporalOnExit);
    for (const d of [...daemons].reverse()) await d.stop('SIGTERM');
    await connection?.close();
    await temporalServer?.stop();
    await postgres?.stop();
    await rm(root, { recursive: true, force: true });
  };
  try {
    postgres = await startTestPostgres();
    const databaseUrl = await postgres.createDatabase();
    const executable = await ensureTemporalCli(() => {});
    const dbFile = join(root, 'temporal.db');
    const port = await freePort();
    const temporalAddress = `127.0.0.1:${port}`;
    const temporal: Killable = {
      async start() {
        temporalServer = await startTemporalDevServer({ executable, dbFile, port });
      },
      async kill() {
        await temporalServer?.kill();
        temporalServer = undefined;
      },
    };
    await temporal.start();

    const adminPassword = randomBytes(18).toString('base64url');
    const apiPort = await freePort();
    const centralEnv: NodeJS.ProcessEnv = { ...process.env, TEMPORAL_ADDRESS: temporalAddress, PARLEY_ADMIN_PASSWORD: adminPassword, DATABASE_URL: databaseUrl };
    delete centralEnv.TEMPORAL_NAMESPACE;
    const apiPart = daemonPart(() => startParley(['server', 'start', '--port', String(apiPort), '--json', '--state-dir', join(root, 'server')], { name: 'api', env: centralEnv, ready: /"url":"http/ }), daemons);
    const coordinator = daemonPart(() => startParley(['coordinator', 'start'], { name: 'coordinator', env: centralEnv, ready: /Coordinator running/ }), daemons);
    await Promise.all([apiPart.start(), coordinator.start()]);
    const apiUrl = `http://127.0.0.1:${apiPort}`;

    const orgs = Array.from({ length: options.sites }, (_, i) => `${options.prefix}-${'abcdefghij'[i]}`);
    const state: DevState = {
      version: 1, temporalAddress, apiUrl, adminPassword, researcherPassword: randomBytes(18).toString('base64url'),
      researcher: { org: `${options.prefix}-researcher`, username: `${options.prefix}-researcher`, keyFile: join(root, 'researcher', 'keys.json'), configDir: join(root, 'researcher') },
      collaboration: `${options.prefix}-study`,
      sites: orgs.map((org) => ({ org, config: join(root, 'sites', org, 'site.yaml') })),
      registered: false, processes: [],
    };
    const io = { out: () => {}, err: () => {}, signal: new AbortController().signal, env: { ...process.env } };
    const collaborationId = await registerDevFederation(root, state, io);
    await storeLogin(apiUrl, state.researcher.username, state.researcherPassword, state.researcher.configDir);

    // Each site: the example images in their roles, and a count for the plain secure sum.
    const counts = new Map(orgs.map((org, i) => [org, BigInt(700_001 + 1_000 * i + Number(randomBytes(2).readUInt16BE() % 997))]));
    for (const s of state.sites) {
      for (const [image, role] of [[options.images.preprocess, 'analysis'], [options.images.analyse, 'analysis'], [options.images.additiveSum, 'protocol'], [options.images.secureSum, 'protocol']] as const) {
        const ran = await parley(['site', 'allow', image.name, '--role', role, '--config', s.config]);
        if (ran.code !== 0) throw new Error(`parley site allow ${image.name} failed:\n${ran.stderr}`);
      }
      // A secure sum's dataset is a directory holding one `count` file, as the demo's sites hold it.
      const countDir = join(root, 'sites', s.org, 'data', 'count');
      await mkdir(countDir, { recursive: true, mode: 0o755 });
      await writeFile(join(countDir, 'count'), `${counts.get(s.org)}\n`, { mode: 0o644 });
      const doc = parseDocument(await readFile(s.config, 'utf8'));
      doc.setIn(['datasets', 'count'], countDir);
      const allowed = doc.getIn(['collaborations', collaborationId, 'datasets']) as { add(v: unknown): void };
      allowed.add('count');
      await writeFile(s.config, doc.toString());
    }
    const siteParts = new Map(state.sites.map((s) => [s.org, daemonPart(() => startSiteCommand(s.config, { name: `site ${s.org}` }), daemons)]));
    for (const part of siteParts.values()) await part.start();

    connection = await Connection.connect({ address: temporalAddress });
    const client = new Client({ connection });
    const researcherApi = createApiClient(apiUrl, (await createApiClient(apiUrl).login(state.researcher.username, state.researcherPassword)).accessToken);
    const keys = await readKeyFile(state.researcher.keyFile);
    return {
      root, temporalAddress, client, api: researcherApi, signer: { keys, collaboration: collaborationId }, sites: orgs, counts,
      temporal, apiServer: apiPart, coordinator,
      site: (org) => siteParts.get(org)!,
      logs: () => [...daemons].map((d) => `--- ${d.name}\n${d.output().split('\n').slice(-20).join('\n')}`).join('\n'),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
