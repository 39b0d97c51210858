/**
 * What every demo scenario stands on, on one machine: the prepared machine (Docker engine,
 * Temporal CLI, images), a Temporal dev server (unless TEMPORAL_ADDRESS names one), the
 * organisations with their keys and datasets, the Parley API with everything registered through
 * it (unless told not to), and one site worker per registry plus the coordinator. `close` undoes
 * all of it in reverse order, also after a failure.
 *
 * With a kept state directory (`--state-dir`) the sites' state outlives the demo: each
 * organisation's key file, pins and state directory (run and release ledgers), the API's
 * database and the demo's record of its passwords and credentials (demo/demo-state.ts), so the
 * next demo meets the same sites with the same keys.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common';
import { ErrorCode, ParleyError } from '../common/errors.ts';
import type { OrgId } from '../common/ids.ts';
import { fingerprint } from '../crypto/index.ts';
import type { AllowedImage } from '../activities/site-policy.ts';
import type { RunSigner } from '../researcher/runs.ts';
import type { KeyDirectory } from '../activities/key-directory.ts';
import { openCentralDatabase, startCentralServer } from '../api/central-server.ts';
import { hashAhead, rememberFreshHashes } from '../api/auth/password.ts';
import { registerFederation } from './api-setup.ts';
import { openDemoState } from './demo-state.ts';
import { LOCAL_COLLABORATION, createFederation, federationPolicyOf, federationSigner, siteDepsOf, type Federation } from './federation.ts';
import { startTemporalDevServer } from '../provision/temporal-dev-server.ts';
import { parleyBinDir } from '../provision/temporal-cli.ts';
import { startLocalCluster, type LocalCluster } from './local-cluster.ts';
import { createPhaseTimings, type PhaseTimings } from './phase-timings.ts';
import type { ExampleImages } from '../provision/images.ts';
import { prepareMachine, type PreparedMachine } from '../provision/prepare-machine.ts';

/** How any demo scenario runs: where it keeps state, whether through the API, and its I/O. */
export interface DemoRunOptions {
  /** Keep keys and datasets here; a temporary directory (removed by `close`) when absent. */
  stateDir?: string;
  /** Through the Parley API (default), or straight to Temporal with a file directory of keys. */
  viaApi?: boolean;
  signal?: AbortSignal;
  progress?: (line: string) => void;
  env?: NodeJS.ProcessEnv;
  /** Where the phases' times are recorded (the benchmark's breakdown); none kept when absent. */
  timings?: PhaseTimings;
}

export interface DemoEnvironmentOptions extends DemoRunOptions {
  sites: OrgId[];
  requester: OrgId;
  /** Each site's count (the count dataset); 0 when the scenario does not use it. */
  counts?: ReadonlyMap<OrgId, bigint>;
  /** More datasets per site: name → a file each site copies into its own data directory. */
  files?: ReadonlyMap<OrgId, Readonly<Record<string, string>>>;
  /** The images the sites allow, each for its role. */
  allowed: (images: ExampleImages) => AllowedImage[];
  /** The machine, when the scenario prepared it itself (to pin a chain before anything starts). */
  machine?: PreparedMachine;
}

/** An organisation's key fingerprints (crypto/ fingerprint), as the demo prints them. */
export interface KeyFingerprints {
  org: OrgId;
  sign: string;
  receive: string;
}

export interface DemoEnvironment {
  machine: PreparedMachine;
  stateDir: string;
  /** True when the state directory was kept from an earlier demo (keys, pins, database reused). */
  reused: boolean;
  /** Every organisation's key fingerprints, the sites' first. */
  fingerprints: KeyFingerprints[];
  temporal: Client;
  federation: Federation;
  cluster: LocalCluster;
  /** Present when the demo goes through the API. */
  api?: Awaited<ReturnType<typeof registerFederation>> & { url: string };
  /** The researcher's view of the published keys: the API's, pinned, or the shared directory. */
  researcherDirectory: KeyDirectory;
  /** The researcher's signer of runs, in the demo's collaboration (the API's, or the local one). */
  signer: RunSigner;
  /** Registers something to undo before everything else `close` undoes. */
  onClose(cleanup: () => Promise<unknown>): void;
  close(): Promise<void>;
}

/**
 * The namespace the demo runs in. On a dev server of its own, `default`. On a server others may
 * use too (TEMPORAL_ADDRESS), TEMPORAL_NAMESPACE when set, else a namespace of its own, made now
 * and removed at the end: two demos there with the same organisation names would otherwise poll
 * the same task queues (`site.registry-a`) and take each other's steps.
 */
async function demoNamespace(connection: Connection, shared: boolean, env: NodeJS.ProcessEnv, cleanups: Array<() => Promise<unknown>>): Promise<string> {
  if (!shared) return 'default';
  if (env.TEMPORAL_NAMESPACE) return env.TEMPORAL_NAMESPACE;
  const namespace = `parley-demo-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await connection.workflowService.registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs('1 day') });
  } catch (err) {
    throw new ParleyError(
      ErrorCode.Prerequisite,
      `The demo could not create a Temporal namespace of its own on TEMPORAL_ADDRESS (${(err as Error).message}); it needs one so that another demo on that server cannot take its steps. ` +
        'Set TEMPORAL_NAMESPACE to a namespace there that no other demo uses, or unset TEMPORAL_ADDRESS to let the demo start a Temporal dev server of its own.',
      { namespace },
      { cause: err },
    );
  }
  // Best effort: a server that cannot delete namespaces drops this one's runs after a day.
  cleanups.unshift(() => connection.operatorService.deleteNamespace({ namespace }).catch(() => undefined));
  // A namespace is usable once the frontend's namespace cache has it (at once on a dev server).
  for (let waited = 0; ; waited += 100) {
    try {
      await connection.workflowService.describeNamespace({ namespace });
      return namespace;
    } catch (err) {
      if (waited >= 30_000) throw err;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

export async function startDemoEnvironment(options: DemoEnvironmentOptions): Promise<DemoEnvironment> {
  const progress = options.progress ?? (() => {});
  const signal = options.signal ?? new AbortController().signal;
  const timings = options.timings ?? createPhaseTimings();
  // A foreign or damaged state directory stops the demo before anything is provisioned.
  const kept = options.stateDir ? await openDemoState(options.stateDir) : undefined;

  const stateDir = options.stateDir ?? (await mkdtemp(join(tmpdir(), 'parley-demo-')));
  // Undone in reverse order of creation: the run's resources, workers, API, server, state.
  const cleanups: Array<() => Promise<unknown>> = [];
  if (!options.stateDir) cleanups.unshift(() => rm(stateDir, { recursive: true, force: true }));
  let pendingTemporal: Promise<unknown> = Promise.resolve();
  let pendingRegistration: Promise<unknown> = Promise.resolve();
  const close = async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup().catch((err) => progress(`cleanup: ${(err as Error).message}`));
  };
  try {
    const store = kept ?? await openDemoState(stateDir);
    const viaApi = options.viaApi ?? true;
    // The two passwords the demo sets are hashed from the start, off the main thread, rather than
    // when the admin is bootstrapped and the researcher created (at the full cost, each with its
    // own salt; api/auth/password.ts), and each first sign-in reuses its hash's work.
    if (viaApi) {
      rememberFreshHashes();
      // A kept database has both users already: nothing of theirs is hashed again.
      if (!store.reused) for (const password of [store.state.adminPassword, store.state.researcherPassword]) hashAhead(password);
    }
    const machine = options.machine ?? await timings.span('machine', () => prepareMachine(progress, options.env ?? process.env));
    signal.throwIfAborted();

    // Temporal comes up while the organisations, the API and the registrations are made, none of
    // which needs it; only the workers (and a run through the API) wait for it.
    const temporalReady = (async () => {
      let address = machine.temporalAddress;
      if (!address) {
        progress('Starting a Temporal dev server…');
        const server = await timings.span('temporal.server', () => startTemporalDevServer({ executable: machine.temporalCli! }));
        cleanups.unshift(() => server.stop());
        address = server.address;
        progress(`Temporal dev server at ${address}`);
      }
      const connection = await timings.span('temporal.connect', () => Connection.connect({ address }));
      cleanups.unshift(() => connection.close());
      const namespace = await timings.span('temporal.namespace', () => demoNamespace(connection, machine.temporalAddress !== undefined, options.env ?? process.env, cleanups));
      if (namespace !== 'default') progress(`Temporal namespace ${namespace}`);
      return { address, namespace, temporal: new Client({ connection, namespace }) };
    })();
    // Awaited below (and before any cleanup, so that a server still starting is stopped too).
    pendingTemporal = temporalReady.catch(() => undefined);
    // The API's database needs no Temporal: it opens (from a cached snapshot of the migrated
    // schema, for a temporary demo) while the dev server starts. Begun once the server's process
    // is on its way: PGlite's start holds this thread for a while, the server's start does not.
    const apiDatabase = viaApi
      ? timings.span('api.database', () => openCentralDatabase({ stateDir: join(stateDir, 'server'), inMemory: !options.stateDir, snapshotCacheDir: join(dirname(parleyBinDir(options.env ?? process.env)), 'pglite'), adminPassword: store.state.adminPassword }))
      : undefined;
    // Closed here if the API never takes it over (a failure before it starts).
    let apiStarted = false;
    cleanups.unshift(async () => {
      if (!apiStarted) await (await apiDatabase?.catch(() => undefined))?.database.close();
    });

    const federation = await timings.span('federation', () => createFederation({
      stateDir,
      counts: new Map(options.sites.map((org) => [org, options.counts?.get(org) ?? 0n])),
      requester: options.requester,
      ...(options.files ? { files: options.files } : {}),
    }));
    const fingerprints = [...federation.sites, federation.requester].map((m) => ({ org: m.org, sign: fingerprint(m.keys.sign.publicJwk.kid), receive: fingerprint(m.keys.receive.publicJwk.kid) }));
    progress(`Organisations: ${options.sites.join(', ')} and ${options.requester} (keys ${store.reused ? 'kept from an earlier demo ' : ''}in ${stateDir}, private keys 0600)`);
    for (const f of fingerprints) progress(`  ${f.org.padEnd(12)}  sign ${f.sign}  receive ${f.receive}`);

    let registering: Promise<DemoEnvironment['api']> = Promise.resolve(undefined);
    if (apiDatabase) {
      // A temporary demo keeps its database in memory (PGlite's first start on disk costs seconds
      // more); with --state-dir it is kept there, as `parley server start` keeps it.
      apiStarted = true;
      const central = await timings.span('api.server', () => startCentralServer({
        stateDir: join(stateDir, 'server'), inMemory: !options.stateDir, temporal: temporalReady.then((t) => t.temporal), quiet: true, adminPassword: store.state.adminPassword, database: apiDatabase,
      }));
      cleanups.unshift(() => central.close());
      progress(`Parley API at ${central.url} (PGlite ${options.stateDir ? `in ${join(stateDir, 'server')}` : 'in memory'})`);
      // The registrations need no Temporal, and the cluster's connections and coordinator need no
      // registration: they start together, and only the site workers wait for their credentials.
      registering = timings.span('api.register', () => registerFederation(central.url, { username: central.admin.username, password: store.state.adminPassword }, federation, store)).then((registered) => {
        progress(store.reused
          ? 'Found the organisations, keys, researcher, collaboration and site credentials an earlier demo registered'
          : 'Registered organisations, public keys, the researcher, a collaboration and one site credential per registry');
        return { ...registered, url: central.url };
      });
      // Awaited below (and before any cleanup, so that the API is not closed under it).
      pendingRegistration = registering.catch(() => undefined);
    }

    const { address, namespace, temporal } = await temporalReady;
    const allowed = options.allowed(machine.images);
    // Each site admits the demo's one collaboration and requester: the API's when there is one.
    const collaborationOf = (registered: DemoEnvironment['api']) => registered?.collaborationId ?? LOCAL_COLLABORATION;
    const cluster = await timings.span('cluster', () => startLocalCluster({
      temporalAddress: address,
      namespace,
      sites: registering.then((api) => {
        const collaboration = collaborationOf(api);
        return federation.sites.map((site) => {
          const blobs = api?.siteBlobs.get(site.org);
          return {
            ...siteDepsOf(site, federation, machine.docker, allowed, api?.siteDirectories.get(site.org), federationPolicyOf(site, federation, collaboration)),
            ...(blobs ? { blobs } : {}),
          };
        });
      }),
      progress,
    }));
    cleanups.unshift(() => cluster.shutdown());
    // Settled: the site workers were made from it.
    const api = await registering;
    const collaboration = collaborationOf(api);
    signal.throwIfAborted();
    return {
      machine, stateDir, reused: store.reused, fingerprints, temporal, federation, cluster,
      ...(api ? { api } : {}),
      researcherDirectory: api?.researcherDirectory ?? federation.directory,
      signer: federationSigner(federation, collaboration),
      onClose: (cleanup) => cleanups.unshift(cleanup),
      close,
    };
  } catch (err) {
    await pendingTemporal;
    await pendingRegistration;
    await close();
    throw err;
  }
}
