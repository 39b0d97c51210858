/**
 * A site joining a Temporal cluster over TLS, mTLS and with an API key, as it would join a hosted
 * one. The dev server has no TLS of its own, so a TLS-terminating gRPC proxy (test/support/temporal-tls-proxy.ts)
 * stands in front of the test run's dev server, with certificates this file makes. The happy paths
 * run a whole ring secure sum whose three sites reach Temporal only through the proxy (one of them
 * a `parley site start` process); the refusals run `parley site start` and read what it tells the
 * operator.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { removeRunVolumes } from '../../activities/sandbox/run-volume.ts';
import type { ImageRef } from '../../activities/types.ts';
import type { SecureSumResult } from '../../workflows/index.ts';
import { makeTestCertificates, type TestCertificates } from '../../test/support/test-certificates.ts';
import { startTlsProxy, type TlsProxy } from '../../test/support/temporal-tls-proxy.ts';
import { setUpSites, withTemporal, type FixtureSites, type TemporalSection } from '../../test/support/site-fixture.ts';
import type { CentralServer } from '../../api/central-server.ts';
import { COUNT_DATASET } from '../../demo/federation.ts';
import { createDockerClient } from '../../provision/docker-engine.ts';
import { ensureExampleImages } from '../../provision/images.ts';
import { DEFAULT_MODULUS, openSecureSumResult, startSecureSum } from '../../researcher/runs.ts';
import { loadSiteConfig } from './config.ts';
import { startSiteProcess, type SiteProcess } from './process.ts';
import { repositoryOf } from '../../common/image-name.ts';
import { parleyProcess, startSiteCommand } from '../../test/support/parley-cli.ts';
import { testOrgs } from '../../test/support/test-orgs.ts';
import { startTestApi, startTestCoordinator, type TestCoordinator } from '../../test/support/central-parts.ts';

const PASSWORD = 'a tls test passphrase';
const API_KEY = 'tls-test-api-key-7c1f0e';
// Organisations of this file's own: the test run's Temporal server is shared by every file.
const ours = testOrgs(import.meta.url);
const TLS_SITES = ['tls-north', 'tls-south', 'tls-east'].map(ours);
const MTLS_SITES = ['mtls-north', 'mtls-south', 'mtls-east'].map(ours);
const counts = (orgs: string[]) => new Map(orgs.map((org, i) => [org, BigInt(1000 + 111 * (i + 1))]));

let root: string;
let certs: TestCertificates;
let connection: Connection;
let coordinator: TestCoordinator;
let server: CentralServer;
let tlsProxy: TlsProxy;
let mtlsProxy: TlsProxy;
let secureSum: ImageRef;
let tlsSites: FixtureSites;
let mtlsSites: FixtureSites;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'parley-site-tls-'));
  certs = await makeTestCertificates(root);
  const docker = createDockerClient();
  const images = await ensureExampleImages(docker, () => {});
  // Allowed by repository and digest, as `parley site allow` pins it; runs ask for the same.
  secureSum = { name: repositoryOf(images.secureSum.name), digest: images.secureSum.digest };

  const upstream = inject('temporalAddress');
  const [cert, key, ca] = await Promise.all([readFile(certs.serverCertFile), readFile(certs.serverKeyFile), readFile(certs.caFile)]);
  tlsProxy = await startTlsProxy({ upstream, cert, key });
  mtlsProxy = await startTlsProxy({ upstream, cert, key, clientCa: ca, apiKey: API_KEY });

  connection = await Connection.connect({ address: upstream });
  coordinator = await startTestCoordinator(upstream);
  const api = await startTestApi({ root, temporal: new Client({ connection }), adminPassword: PASSWORD });
  server = api.server;
  const admin = api.admin;

  const apiKeyFile = join(root, 'temporal-api-key');
  await writeFile(apiKeyFile, `${API_KEY}\n`, { mode: 0o600 });
  tlsSites = await setUpSites({
    root: join(root, 'tls'), admin, apiUrl: server.url, counts: counts(TLS_SITES), requester: ours('tls-researcher'), allowedImages: [secureSum],
    temporal: { address: tlsProxy.address, tls: { caFile: certs.caFile } },
  });
  mtlsSites = await setUpSites({
    root: join(root, 'mtls'), admin, apiUrl: server.url, counts: counts(MTLS_SITES), requester: ours('mtls-researcher'), allowedImages: [secureSum],
    temporal: { address: mtlsProxy.address, tls: { caFile: certs.caFile, certFile: certs.clientCertFile, keyFile: certs.clientKeyFile, serverName: 'localhost' }, apiKeyFile },
  });
});

afterAll(async () => {
  await coordinator?.stop();
  await server?.close();
  await connection?.close();
  await tlsProxy?.close();
  await mtlsProxy?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

const quiet = () => undefined;

/**
 * Runs a ring secure sum whose first site is a `parley site start` process and the others
 * `startSiteProcess` (what that command runs), all from their site.yaml. Returns the opened total
 * and the command's log.
 */
async function ringThrough(sites: FixtureSites): Promise<{ total: bigint; log: string }> {
  const processes: SiteProcess[] = [];
  const running: Promise<void>[] = [];
  const participants = sites.federation.sites.map((s) => s.org);
  const command = await startSiteCommand(sites.configFiles.get(participants[0]!)!);
  let handle: WorkflowHandle | undefined;
  try {
    for (const org of participants.slice(1)) {
      const site = await startSiteProcess(await loadSiteConfig(sites.configFiles.get(org)!), quiet);
      processes.push(site);
      running.push(site.run());
    }
    handle = await startSecureSum(new Client({ connection }), {
      participants, requester: sites.federation.requester.org, dataset: COUNT_DATASET, modulus: DEFAULT_MODULUS, image: secureSum, signer: sites.signer,
    });
    const outcome = (await handle.result()) as SecureSumResult;
    const total = await openSecureSumResult(outcome, sites.federation.requester, sites.federation.directory, participants[0]!);
    expect(await command.stop()).toBe(0);
    return { total, log: command.stderr() };
  } finally {
    await command.stop();
    for (const site of processes) site.stop();
    await Promise.all(running);
    if (handle) await Promise.all(participants.map((org) => removeRunVolumes(createDockerClient(), { runId: handle!.workflowId, org })));
  }
}

/** Every line of a --json-logs log is JSON (the command's own notice of the signal aside). */
function nonJsonLines(log: string): string[] {
  return log.split('\n').filter((line) => line !== '' && !line.startsWith('SIGTERM: stopping cleanly')).filter((line) => {
    try {
      JSON.parse(line);
      return false;
    } catch {
      return true;
    }
  });
}

const sum = (m: Map<string, bigint>) => [...m.values()].reduce((a, b) => a + b, 0n);

/**
 * `parley site start` with this site.yaml, expected to refuse; as a process, since it installs
 * Temporal's runtime. A start that did not refuse would run until stopped: stop it, and the test
 * sees exit 0.
 */
function refusedStart(configFile: string) {
  return parleyProcess(['site', 'start', '--config', configFile], { stopAfterMs: 60_000 });
}

describe('a site joins Temporal over TLS', () => {
  it('with server-only TLS (caFile) runs its steps: the ring\'s total is right', async () => {
    const before = tlsProxy.counts.forwarded;
    const { total, log } = await ringThrough(tlsSites);
    expect(total).toBe(sum(counts(TLS_SITES)));
    expect(tlsProxy.counts.forwarded).toBeGreaterThan(before);
    // TLS to an IP address makes grpc-js warn; the warning, too, is a JSON line of the site's log.
    expect(nonJsonLines(log)).toEqual([]);
    expect(log).toContain('"tls":true');
  });

  it('with mTLS and an API key runs its steps, and every call carried the key', async () => {
    const { total, log } = await ringThrough(mtlsSites);
    expect(total).toBe(sum(counts(MTLS_SITES)));
    expect(log).not.toContain(API_KEY);
    expect(mtlsProxy.counts.refusedApiKey).toBe(0);
    expect(mtlsProxy.counts.forwarded).toBeGreaterThan(0);
  });

  const north = (sites: () => FixtureSites) => sites().configFiles.get(sites().federation.sites[0]!.org)!;
  const refusals: Array<[string, () => string, () => TemporalSection, RegExp]> = [
    ['a server certificate signed by another CA', () => north(() => tlsSites), () => ({ address: tlsProxy.address, tls: { caFile: certs.otherCaFile } }),
      /the server's certificate is not signed by the CA in .*other-ca\.pem \(temporal\.tls\.caFile in .*\)\. Set temporal\.tls\.caFile to the CA certificate/],
    ['TLS without a CA this machine trusts', () => north(() => tlsSites), () => ({ address: tlsProxy.address, tls: {} }),
      /not signed by a CA this machine trusts \(temporal\.tls\.caFile in .*\)\. Set temporal\.tls\.caFile/],
    ['a certificate issued for another name', () => north(() => tlsSites), () => ({ address: tlsProxy.address, tls: { caFile: certs.caFile, serverName: 'temporal.example.org' } }),
      /not issued for temporal\.example\.org \(temporal\.tls\.serverName in .*\)\. Set temporal\.tls\.serverName to the host name on the cluster's certificate/],
    ['a plain connection to a TLS endpoint', () => north(() => tlsSites), () => ({ address: tlsProxy.address }),
      /\(temporal\.tls in .*\)\. If the cluster uses TLS, add temporal\.tls/],
    ['mTLS without a client certificate', () => north(() => mtlsSites), () => ({ address: mtlsProxy.address, tls: { caFile: certs.caFile }, apiKeyFile: join(root, 'temporal-api-key') }),
      /requires a client certificate \(mTLS\).* none is configured \(temporal\.tls\.certFile in .*\)\. (If the cluster uses mTLS, s|S)et temporal\.tls\.certFile and temporal\.tls\.keyFile/],
    ['a client certificate from another CA', () => north(() => mtlsSites), () => ({ address: mtlsProxy.address, tls: { caFile: certs.caFile, certFile: certs.strangerCertFile, keyFile: certs.strangerKeyFile } }),
      /(refused|refuses) the client certificate in .*stranger-client\.pem \(temporal\.tls\.certFile in .*\)\. Set temporal\.tls\.certFile and temporal\.tls\.keyFile/],
  ];
  it.each(refusals)('refuses %s, naming the option to fix', async (_name, base, temporal, message) => {
    const file = await withTemporal(base(), temporal(), `site-${Math.random().toString(36).slice(2)}.yaml`);
    const ran = await refusedStart(file);
    expect(ran.code, ran.stderr).toBe(1);
    expect(ran.stderr).toMatch(message);
  });

  it('refuses a wrong API key, naming temporal.apiKeyFile and never printing a key', async () => {
    const wrongKeyFile = join(root, 'wrong-api-key');
    await writeFile(wrongKeyFile, 'not-the-key-31d9\n', { mode: 0o600 });
    const temporal = { address: mtlsProxy.address, tls: { caFile: certs.caFile, certFile: certs.clientCertFile, keyFile: certs.clientKeyFile }, apiKeyFile: wrongKeyFile };
    const file = await withTemporal(north(() => mtlsSites), temporal, 'site-wrong-key.yaml');
    const refusedBefore = mtlsProxy.counts.refusedApiKey;
    const ran = await refusedStart(file);
    expect(ran.code, ran.stderr).toBe(1);
    expect(ran.stderr).toMatch(/the server refused the API key in .*wrong-api-key \(temporal\.apiKeyFile in .*\)/);
    expect(ran.stderr).not.toContain('not-the-key-31d9');
    expect(ran.stderr).not.toContain(API_KEY);
    expect(mtlsProxy.counts.refusedApiKey).toBeGreaterThan(refusedBefore);
  });
});
