/**
 * Latency of the Parley API over HTTP on loopback, one request at a time: key lookup
 * (GET /v1/organisations/{org}/keys, as a site worker does before sealing) and run creation
 * (POST /v1/runs, which records the run and starts its workflow in Temporal). The real server
 * (PGlite in a temporary directory) and a real Temporal server; nothing polls the coordinator's
 * queue, which does not matter for creation, and every run started here is terminated afterwards.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Client, Connection } from '@temporalio/client';
import { createApiClient, type ApiClient } from '../activities/api-client.ts';
import { generateOrgKeys, publicKeysOf, signSiteEnrolment, type OrgKeys } from '../crypto/index.ts';
import { startCentralServer } from '../api/central-server.ts';
import { startTemporalDevServer } from '../provision/temporal-dev-server.ts';
import { demoSiteNames } from '../demo/run-demo.ts';
import { DEFAULT_MODULUS, startSecureSumThroughApi } from '../researcher/runs.ts';
import { median, percentile, round } from './stats.ts';

export interface LatencyResult {
  name: string;
  requests: number;
  medianMs: number;
  p99Ms: number;
  maxMs: number;
}

export interface ApiLatencyBench {
  keyLookup: LatencyResult;
  runCreation: LatencyResult;
  /** Where the runs were started: a dev server started for this benchmark, or TEMPORAL_ADDRESS. */
  temporal: 'dev server' | 'TEMPORAL_ADDRESS';
}

export interface ApiLatencyOptions {
  /** A running Temporal server; when absent, a dev server is started from temporalCli. */
  temporalAddress?: string;
  temporalCli?: string;
  /** Measured requests per operation (default 1,000). */
  requests?: number;
  /** Unmeasured requests first: JIT, prepared statements, connection pools (default 100). */
  warmup?: number;
  log: (line: string) => void;
}

// Never pulled or run: nothing polls the coordinator's queue, so only its shape is checked.
const IMAGE = { name: 'parley/bench-secure-sum', digest: `sha256:${'0'.repeat(64)}` };
// Runs terminated at once: enough to be quick, few enough not to swamp a shared server.
const TERMINATE_CONCURRENCY = 16;

/** Measures both operations; throws if a request fails. Removes everything it created. */
export async function benchApiLatency(options: ApiLatencyOptions): Promise<ApiLatencyBench> {
  const requests = options.requests ?? 1000;
  const warmup = options.warmup ?? 100;
  if (!options.temporalAddress && !options.temporalCli) throw new TypeError('benchApiLatency needs temporalAddress or temporalCli');

  const stateDir = await mkdtemp(join(tmpdir(), 'parley-bench-api-'));
  // Undone in reverse order of creation.
  const cleanups: Array<() => Promise<unknown>> = [() => rm(stateDir, { recursive: true, force: true })];
  try {
    let address = options.temporalAddress;
    if (!address) {
      const server = await startTemporalDevServer({ executable: options.temporalCli! });
      cleanups.unshift(() => server.stop());
      address = server.address;
    }
    const connection = await Connection.connect({ address });
    cleanups.unshift(() => connection.close());
    const temporal = new Client({ connection });

    const central = await startCentralServer({ stateDir: join(stateDir, 'server'), temporal, quiet: true });
    cleanups.unshift(() => central.close());
    const { site, researcher, runRequest, lookedUp } = await register(central.url, { username: central.admin.username, password: central.admin.password! });

    options.log(`  key lookup: ${warmup} warm-up, ${requests} measured`);
    const keyMs = await timeSequentially(warmup, requests, (i) => site.organisationKeys(lookedUp[i % lookedUp.length]!));

    const runIds: string[] = [];
    cleanups.unshift(() => terminateRuns(temporal, runIds, options.log));
    options.log(`  run creation: ${warmup} warm-up, ${requests} measured`);
    const runMs = await timeSequentially(warmup, requests, async () => {
      // Each run is signed afresh by the researcher's client, as `parley run` does (a run id is used once).
      runIds.push((await startSecureSumThroughApi(researcher, runRequest.signer, runRequest.request)).id);
    });

    return {
      keyLookup: summarise('key lookup, GET /v1/organisations/{org}/keys', keyMs),
      runCreation: summarise('run creation, POST /v1/runs', runMs),
      temporal: options.temporalAddress ? 'TEMPORAL_ADDRESS' : 'dev server',
    };
  } finally {
    for (const cleanup of cleanups) await cleanup().catch((err) => options.log(`  cleanup: ${(err as Error).message}`));
  }
}

/**
 * What demo/api-setup.ts registers, kept in memory: three sites' organisations with keys,
 * the researcher's organisation and user, a collaboration, one site each. Returns a site worker's
 * client (its credential) and the researcher's (signed in).
 */
async function register(apiUrl: string, admin: { username: string; password: string }) {
  const anonymous = createApiClient(apiUrl);
  const asAdmin = anonymous.withToken((await anonymous.login(admin.username, admin.password)).accessToken);
  const siteOrgs = demoSiteNames(3);
  const researcherOrg = 'researcher';
  const keysOf = new Map<string, OrgKeys>();
  for (const org of [...siteOrgs, researcherOrg]) {
    keysOf.set(org, await generateOrgKeys(org));
    await asAdmin.createOrganisation({ id: org, name: org, keys: publicKeysOf(keysOf.get(org)!) });
  }
  const password = randomBytes(18).toString('base64url');
  await asAdmin.createUser({ username: researcherOrg, password, orgId: researcherOrg, role: 'researcher' });
  const collaboration = await asAdmin.createCollaboration({ name: `bench-${Date.now()}`, members: [...siteOrgs, researcherOrg] });
  const credentials: string[] = [];
  for (const org of siteOrgs) {
    const enrolment = await signSiteEnrolment(keysOf.get(org)!, collaboration.id);
    credentials.push((await asAdmin.registerSite({ collaborationId: collaboration.id, orgId: org, enrolment })).credential);
  }
  const researcher: ApiClient = anonymous.withToken((await anonymous.login(researcherOrg, password)).accessToken);
  const runRequest = {
    signer: { keys: keysOf.get(researcherOrg)!, collaboration: collaboration.id },
    request: { participants: siteOrgs, modulus: DEFAULT_MODULUS, dataset: 'registry', image: IMAGE },
  };
  return {
    // The first site, looking up the others' keys and the researcher's, as it does during a run.
    site: anonymous.withToken(credentials[0]!),
    lookedUp: [...siteOrgs.slice(1), researcherOrg],
    researcher,
    runRequest,
  };
}

/** Runs `request` warmup + n times, one after another; returns the n measured durations. */
async function timeSequentially(warmup: number, n: number, request: (i: number) => Promise<unknown>): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await request(i);
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await request(i);
    ms.push(performance.now() - t0);
  }
  return ms;
}

function summarise(name: string, ms: number[]): LatencyResult {
  return { name, requests: ms.length, medianMs: round(median(ms), 3), p99Ms: round(percentile(ms, 99), 3), maxMs: round(Math.max(...ms), 3) };
}

/** Terminates the benchmark's runs, so none is left waiting for a coordinator on the server. */
async function terminateRuns(temporal: Client, runIds: string[], log: (line: string) => void): Promise<void> {
  let failed = 0;
  for (let i = 0; i < runIds.length; i += TERMINATE_CONCURRENCY) {
    const batch = runIds.slice(i, i + TERMINATE_CONCURRENCY);
    const outcomes = await Promise.allSettled(batch.map((id) => temporal.workflow.getHandle(id).terminate('benchmark of run creation: never meant to run')));
    failed += outcomes.filter((o) => o.status === 'rejected').length;
  }
  log(`  terminated ${runIds.length - failed} of ${runIds.length} benchmark runs${failed ? ` (${failed} could not be: see the Temporal UI)` : ''}`);
}
