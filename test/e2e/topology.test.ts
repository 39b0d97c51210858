/**
 * A real deployment's topology on one machine, every part its own process, set up only through
 * the `parley` command as a server admin and three site operators would: PostgreSQL 15 (a
 * throwaway cluster) under `parley server start`, a Temporal dev server of this file's own,
 * `parley coordinator start`, and three `parley site start --config <file>` workers, each with its
 * own state directory, keys and site.yaml. A researcher then runs a secure sum through the API and
 * the example chain with `parley run`, and opens the right total and statistics. Everything is
 * stopped with SIGTERM and must exit 0, leaving no container, volume or process.
 * docker-compose.yml describes the same topology for machines with a registry.
 */
import { randomInt } from 'node:crypto';
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDocument } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiClient, type ApiClient } from '../../activities/api-client.ts';
import { fileKeyDirectory, publishPublicKeys } from '../../activities/key-directory.ts';
import { parseChainFile, resolveChain } from '../../chains/index.ts';
import type { ChainOutput } from '../../common/chain.ts';
import type { Envelope } from '../../common/envelope.ts';
import { generateOrgKeys, publicKeysOf, type OrgKeys } from '../../crypto/index.ts';
import { startTemporalDevServer, type TemporalDevServer } from '../../provision/temporal-dev-server.ts';
import { createDockerClient } from '../../provision/docker-engine.ts';
import { ensureExampleImages } from '../../provision/images.ts';
import { ensureTemporalCli } from '../../provision/temporal-cli.ts';
import { readChainOutputs, statisticsOf } from '../../researcher/chain-result.ts';
import { DEFAULT_MODULUS, openChainOutputs, openSecureSumResult, startSecureSumThroughApi } from '../../researcher/runs.ts';
import { writeKeyFile } from '../../activities/key-file.ts';
import { startTestPostgres, type TestPostgres } from '../support/postgres-server.ts';
import { referenceCohort, registryPath, type Condition } from '../support/statistics-steps.ts';
import { repositoryOf } from '../../common/image-name.ts';
import { parleyProcess, startParley, type ParleyDaemon } from '../support/parley-cli.ts';
import { testOrgs } from '../support/test-orgs.ts';

const ADMIN_PASSWORD = 'a topology admin passphrase';
const USER_PASSWORD = 'a topology user passphrase';
// Organisations of this file's own (sweeps and task queues are per organisation).
const ours = testOrgs(import.meta.url);
const SITES = ['a', 'b', 'c'].map(ours);
const RESEARCHER_ORG = ours('researcher');
const COLLAB = 'topology-study';
const DATASET = 'registry';
// The example chain and each site's own example registry (examples/data/registry-{a,b,c}.csv).
const CHAIN_FILE = fileURLToPath(new URL('../../examples/chains/cohort-mean.yaml', import.meta.url));
const REGISTRY = new Map(SITES.map((org, i) => [org, registryPath((['a', 'b', 'c'] as const)[i]!)]));
// Six-digit counts: a total that is right cannot be a coincidence.
const counts = new Map(SITES.map((org) => [org, BigInt(randomInt(100_000, 1_000_000))]));

let root: string;
let postgres: TestPostgres;
let temporal: TemporalDevServer;
let apiUrl: string;
/** Every long-running process started, whatever became of the test that started it. */
const daemons: ParleyDaemon[] = [];

/** Starts `parley <args>` as its own process (a part of the deployment) once `ready` shows. */
async function startDaemon(name: string, args: string[], env: NodeJS.ProcessEnv, ready: RegExp): Promise<ParleyDaemon> {
  return startParley(args, { name, env: { ...process.env, ...env }, ready, keepIn: daemons });
}

/** `parley …` as an operator types it, that must succeed; `input` is piped to stdin (passwords). Its stdout. */
async function ok(args: string[], configDir: string, input = ''): Promise<string> {
  const ran = await parleyProcess(args, { env: { ...process.env, PARLEY_CONFIG_DIR: configDir }, stdin: input });
  if (ran.code !== 0) throw new Error(`parley ${args.join(' ')} exited ${ran.code}:\n${ran.stderr}`);
  return ran.stdout;
}

async function leftovers(): Promise<{ containers: string[]; volumes: string[] }> {
  const docker = createDockerClient();
  const found = await Promise.all(SITES.map(async (org) => {
    const filters = JSON.stringify({ label: [`parley.site=${org}`] });
    return {
      containers: (await docker.listContainers({ all: true, filters })).map((c) => c.Id),
      volumes: ((await docker.listVolumes({ filters })).Volumes ?? []).map((v) => v.Name),
    };
  }));
  return { containers: found.flatMap((f) => f.containers), volumes: found.flatMap((f) => f.volumes) };
}

let imageForRuns: { name: string; digest: string };
let researcherKeys: OrgKeys;
let chainImages: Map<string, { name: string; digest: string }>;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'parley-topology-'));
  // The central machine: PostgreSQL, Temporal, the API on PostgreSQL, the coordinator. What does
  // not depend on each other starts together: every `parley` process costs seconds to load.
  const [images, pg, temporalCli] = await Promise.all([ensureExampleImages(createDockerClient(), () => {}), startTestPostgres(), ensureTemporalCli(() => {})]);
  imageForRuns = { name: repositoryOf(images.secureSum.name), digest: images.secureSum.digest };
  chainImages = new Map([images.preprocess, images.analyse, images.additiveSum].map((i) => [repositoryOf(i.name), i]));
  postgres = pg;
  const databaseUrl = await postgres.createDatabase();
  temporal = await startTemporalDevServer({ executable: temporalCli });
  const [server] = await Promise.all([
    startDaemon('parley server start', ['server', 'start', '--port', '0', '--json', '--state-dir', join(root, 'server')], {
      DATABASE_URL: databaseUrl, TEMPORAL_ADDRESS: temporal.address, PARLEY_ADMIN_PASSWORD: ADMIN_PASSWORD,
    }, /"url":"http[^"]+"/),
    startDaemon('parley coordinator start', ['coordinator', 'start'], { TEMPORAL_ADDRESS: temporal.address }, /Coordinator running/),
  ]);
  apiUrl = (JSON.parse(server.output().split('\n').find((l) => l.startsWith('{"url"'))!) as { url: string }).url;

  // The server admin registers the organisations, their operators, the researcher, the collaboration.
  const adminCli = join(root, 'admin-cli');
  await ok(['login', '--api', apiUrl, '--username', 'admin', '--password-stdin'], adminCli, `${ADMIN_PASSWORD}\n`);
  researcherKeys = await generateOrgKeys(RESEARCHER_ORG);
  const researcherPublic = join(root, 'researcher.public.json');
  await writeFile(researcherPublic, JSON.stringify(publicKeysOf(researcherKeys)));
  const organisations: Array<[org: string, name: string, keys: string[], user: string, role: string]> = [
    [RESEARCHER_ORG, 'Topology researcher', ['--keys', researcherPublic], 'rita', 'researcher'],
    ...SITES.map((org): [string, string, string[], string, string] => [org, `Registry ${org}`, [], `op-${org}`, 'site_operator']),
  ];
  await Promise.all(organisations.map(async ([org, name, keys, user, role]) => {
    await ok(['org', 'create', org, '--name', name, ...keys], adminCli);
    await ok(['user', 'create', user, '--org', org, '--role', role, '--password-stdin'], adminCli, `${USER_PASSWORD}\n`);
  }));
  const { id: collaborationId } = JSON.parse(await ok(['collab', 'create', COLLAB, '--members', [...SITES, RESEARCHER_ORG].join(','), '--json'], adminCli)) as { id: string };

  // Each site operator, on "their own machine" (a directory of their own): init, register, store
  // the credential, add the dataset, allow the image, start the worker.
  await Promise.all(SITES.map(async (org) => {
    const cli = join(root, `cli-${org}`);
    const dir = join(root, 'sites', org);
    await ok(['login', '--api', apiUrl, '--username', `op-${org}`, '--password-stdin'], cli, `${USER_PASSWORD}\n`);
    // The private keys apart from the rest, as in a volume of their own (docker-compose.yml).
    await ok(['site', 'init', '--org', org, '--api', apiUrl, '--dir', dir, '--temporal', temporal.address, '--key-file', join(root, 'key-volumes', org, `${org}.keys.json`)], cli);
    const { credential } = JSON.parse(await ok(['site', 'register', '--collab', COLLAB, '--org', org, '--config', join(dir, 'site.yaml'), '--json'], cli)) as { credential: string };
    await writeFile(join(dir, 'site-credential'), `${credential}\n`, { mode: 0o600 });
    const data = join(dir, 'data', DATASET);
    await mkdir(data, { recursive: true });
    await writeFile(join(data, 'count'), `${counts.get(org)}\n`);
    // The chain's dataset: the site's own copy of its registry, readable by the sandbox's user.
    const patients = join(dir, 'data', 'patients.csv');
    await copyFile(REGISTRY.get(org)!, patients);
    await chmod(patients, 0o644);
    const config = join(dir, 'site.yaml');
    const doc = parseDocument(await readFile(config, 'utf8'));
    doc.setIn(['datasets', DATASET], data);
    doc.setIn(['datasets', 'patients'], patients);
    doc.set('shutdownGraceSeconds', 10);
    await writeFile(config, doc.toString());
    // One at a time: each allow rewrites site.yaml.
    // The operator admits the collaboration and its researcher, on the two datasets.
    await ok(['site', 'join', collaborationId, '--requesters', RESEARCHER_ORG, '--datasets', `${DATASET},patients`, '--config', config], cli);
    // The secure sums as protocol images, the chain's own steps as analysis images that release nothing.
    for (const image of [images.secureSum, images.additiveSum]) await ok(['site', 'allow', image.name, '--role', 'protocol', '--config', config], cli);
    for (const image of chainImages.values()) {
      if (image.name !== images.secureSum.name && image.name !== images.additiveSum.name) await ok(['site', 'allow', image.name, '--role', 'analysis', '--config', config], cli);
    }
  }));
  await Promise.all(SITES.map((org) =>
    startDaemon(`parley site start (${org})`, ['site', 'start', '--config', join(root, 'sites', org, 'site.yaml'), '--json-logs'], {}, /"message":"site worker started"/)));
  // Some twenty `parley` processes, each loading TypeScript: minutes on a busy 2-core machine.
}, 900_000);

afterAll(async () => {
  // Whatever a failed test left running: stopped the same way, then the central services.
  await Promise.all(daemons.map((daemon) => daemon.stop()));
  await temporal?.stop();
  await postgres?.stop();
  if (root) await rm(root, { recursive: true, force: true });
});

describe('the deployment topology, one process per part', () => {
  it('runs a secure sum started by a researcher through the API, and the total is right', async () => {
    const anonymous = createApiClient(apiUrl);
    const researcher = anonymous.withToken((await anonymous.login('rita', USER_PASSWORD)).accessToken);
    const { collaborations } = await researcher.collaborations();
    const collaborationId = collaborations.find((c) => c.name === COLLAB)!.id;
    const run = await startSecureSumThroughApi(researcher, { keys: researcherKeys, collaboration: collaborationId }, { participants: SITES, modulus: DEFAULT_MODULUS, dataset: DATASET, image: imageForRuns });
    let view = run;
    for (let polls = 0; view.status === 'running' && polls < 10; polls++) view = await researcher.run(run.id, { waitSeconds: 30 });
    expect(view.status).toBe('completed');
    const { envelope } = await researcher.runResult(run.id);
    // The researcher checks the sender against the keys it was given out of band (here: the API's).
    const directoryDir = join(root, 'researcher-directory');
    for (const org of SITES) await publishPublicKeys(directoryDir, await researcher.organisationKeys(org));
    const total = await openSecureSumResult(
      { runId: run.id, protocol: 'ring', result: envelope as Envelope, resultStep: `ring.${SITES.length}.finish`, steps: [] },
      { org: RESEARCHER_ORG, keys: researcherKeys },
      fileKeyDirectory(directoryDir),
      SITES[0]!,
    );
    expect(total).toBe([...counts.values()].reduce((a, b) => a + b, 0n));
  });

  it('runs the example chain started with `parley run`, and the researcher opens the right statistics', async () => {
    const researcherCli = join(root, 'cli-rita');
    await ok(['login', '--api', apiUrl, '--username', 'rita', '--password-stdin'], researcherCli, `${USER_PASSWORD}\n`);
    const researcherKeyFile = join(root, 'researcher.keys.json');
    await writeKeyFile(researcherKeyFile, researcherKeys);
    const lines = (await ok(['run', CHAIN_FILE, '--key', researcherKeyFile, '--collab', COLLAB, '--sites', SITES.join(','), '--wait', '--json'], researcherCli)).trim().split('\n');
    const { run } = JSON.parse(lines.at(-1)!) as { run: { id: string } };

    // Opened with the researcher's key, as `parley result` does, against the chain as pinned.
    const anonymous = createApiClient(apiUrl);
    const researcher: ApiClient = anonymous.withToken((await anonymous.login('rita', USER_PASSWORD)).accessToken);
    const result = await researcher.chainRunResult(run.id);
    expect('outputs' in result).toBe(true);
    const outputs = (result as { outputs: ChainOutput[] }).outputs;
    const parsed = parseChainFile(await readFile(CHAIN_FILE, 'utf8'), CHAIN_FILE);
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.problems));
    const resolved = await resolveChain(parsed.file, { resolveImage: async (name) => chainImages.get(name) });
    if (!resolved.ok) throw new Error(JSON.stringify(resolved.problems));
    const directoryDir = join(root, 'researcher-chain-directory');
    for (const org of SITES) await publishPublicKeys(directoryDir, await researcher.organisationKeys(org));
    const opened = await openChainOutputs({ runId: run.id, outputs }, { org: RESEARCHER_ORG, keys: researcherKeys }, fileKeyDirectory(directoryDir));
    const stats = statisticsOf(readChainOutputs(resolved.spec, opened));

    // The plain computation, over every registry in one place, as no deployment could.
    const preprocess = resolved.spec.steps.find((s) => s.id === 'preprocess')!;
    const where = (preprocess.kind === 'container' ? preprocess.args.where : []) as unknown as Condition[];
    const values: number[] = [];
    for (const file of REGISTRY.values()) {
      const { columns, rows } = referenceCohort(await readFile(file, 'utf8'), where);
      const at = columns.indexOf('lab_value');
      for (const row of rows) if (row[at]!.trim() !== '' && !Number.isNaN(Number(row[at]))) values.push(Number(row[at]));
    }
    expect(stats?.count).toBe(values.length);
    expect(stats!.mean).toBeCloseTo(values.reduce((a, b) => a + b, 0) / values.length, 9);
  });

  it('stops every process with SIGTERM (exit 0) and leaves no container or volume', async () => {
    // Sites first (they finish their steps), then the coordinator, then the API.
    const order = [...daemons.filter((d) => d.name.startsWith('parley site')), ...daemons.filter((d) => !d.name.startsWith('parley site'))];
    for (const daemon of order) expect(await daemon.stop(), `${daemon.name}:\n${daemon.output()}`).toBe(0);
    expect(daemons.every((d) => d.child.exitCode !== null)).toBe(true);
    expect(await leftovers()).toEqual({ containers: [], volumes: [] });
  });
});
