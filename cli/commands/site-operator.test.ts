/**
 * What a site operator sees while runs go through `parley site start` workers (real processes,
 * real containers, the test run's Temporal server): a step asking for an image the site did not
 * allow fails the run with a message naming the image and `parley site allow`; another
 * organisation's changed key stops runs until `parley site trust` accepts it; and after a crash
 * (SIGKILL mid-step) of a run that has since ended, the restarted worker removes its container and
 * volume. The sites' set-up (keys, credential, site.yaml) is test/support/site-fixture.ts's.
 */
import { randomInt } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import type Docker from 'dockerode';
import { parseDocument } from 'yaml';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createApiClient, type ApiClient } from '../../activities/api-client.ts';
import { writeKeyFile } from '../../activities/key-file.ts';
import { removeRunVolumes } from '../../activities/sandbox/run-volume.ts';
import type { ImageRef } from '../../activities/types.ts';
import { generateOrgKeys, publicKeysOf } from '../../crypto/index.ts';
import { setUpSites, type FixtureSites } from '../../test/support/site-fixture.ts';
import { testDocker, testImages } from '../../test/support/docker-images.ts';
import type { CentralServer } from '../../api/central-server.ts';
import { COUNT_DATASET } from '../../demo/federation.ts';
import { DEFAULT_MODULUS, openSecureSumResult, startSecureSum, type RunSigner, type UnsignedSecureSumInput } from '../../researcher/runs.ts';
import type { SecureSumResult } from '../../workflows/index.ts';
import { repositoryOf } from '../../common/image-name.ts';
import { runLeftovers } from '../../test/support/run-leftovers.ts';
import { parley, startSiteCommand, type ParleyDaemon } from '../../test/support/parley-cli.ts';
import { testOrgs } from '../../test/support/test-orgs.ts';
import { startTestApi, startTestCoordinator, type TestCoordinator } from '../../test/support/central-parts.ts';
import { testNamespace } from '../../test/support/test-namespace.ts';

const NAMESPACE = testNamespace(import.meta.url);

const PASSWORD = 'a site operator passphrase';
// Organisations of this file's own: the test run's Temporal server and Docker engine are shared.
const ours = testOrgs(import.meta.url);
const [A, B, C] = [ours('a'), ours('b'), ours('c')];
const counts = new Map([[A, 41n], [B, 307n], [C, 5003n]]);
const total = 41n + 307n + 5003n;

let root: string;
let docker: Docker;
let connection: Connection;
let client: Client;
let coordinator: TestCoordinator;
let server: CentralServer;
let admin: ApiClient;
let sites: FixtureSites;
let secureSum: ImageRef;
let hang: ImageRef;
const running = new Map<string, ParleyDaemon>();

const configOf = (org: string) => sites.configFiles.get(org)!;

/** `parley site start` for `org` as its own process, resolved once its worker runs. */
async function startSite(org: string): Promise<ParleyDaemon> {
  const site = await startSiteCommand(configOf(org), { name: `parley site start (${org})` });
  running.set(org, site);
  return site;
}

async function stopSite(org: string, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  const site = running.get(org);
  if (!site) return null;
  running.delete(org);
  return site.stop(signal);
}

function input(overrides: Partial<UnsignedSecureSumInput> = {}): UnsignedSecureSumInput & { signer: RunSigner } {
  return { participants: [A, B, C], requester: sites.federation.requester.org, dataset: COUNT_DATASET, modulus: DEFAULT_MODULUS, image: secureSum, signer: sites.signer, ...overrides };
}

/** The failure at the bottom of a failed run: the step's ApplicationFailure (type = ParleyError code). */
async function failureOf(runId: string): Promise<{ type?: string; message?: string }> {
  const failure = await client.workflow.getHandle(runId).result().then(() => undefined, (err: unknown) => err);
  expect(failure).toBeInstanceOf(WorkflowFailedError);
  let cause = (failure as WorkflowFailedError).cause as { cause?: unknown; type?: string; message?: string } | undefined;
  while (cause?.cause) cause = cause.cause as typeof cause;
  return { type: cause?.type, message: cause?.message };
}


beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'parley-site-operator-'));
  docker = testDocker();
  const images = await testImages(docker, { sum: 'secure-sum', hang: 'test-fixtures/hang' });
  secureSum = { name: repositoryOf(images.sum.ref), digest: images.sum.digest };
  hang = { name: repositoryOf(images.hang.ref), digest: images.hang.digest };

  connection = await Connection.connect({ address: inject('temporalAddress') });
  client = new Client({ connection, namespace: NAMESPACE });
  coordinator = await startTestCoordinator(inject('temporalAddress'), NAMESPACE);
  ({ server, admin } = await startTestApi({ root, temporal: client, adminPassword: PASSWORD }));
  sites = await setUpSites({
    root, admin, apiUrl: server.url, counts, requester: ours('researcher'), allowedImages: [secureSum, hang],
    temporal: { address: inject('temporalAddress'), namespace: NAMESPACE }, extra: { shutdownGraceSeconds: 3 },
  });
  await Promise.all([A, B, C].map(startSite));
});

afterAll(async () => {
  await Promise.all([...running.keys()].map((org) => stopSite(org)));
  await coordinator?.stop();
  await server?.close();
  await connection?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

describe('a site operator\'s worker at work', () => {
  it('fails a run asking for an image it did not allow (wrong digest, unknown image), naming it and `parley site allow`', async () => {
    const wrongDigest = { name: secureSum.name, digest: `sha256:${'0'.repeat(64)}` };
    const unknown = { name: 'parley-test/never-allowed', digest: secureSum.digest };
    const runs = await Promise.all([wrongDigest, unknown].map(async (image) => {
      const runId = `sop-notallowed-${randomInt(1e9)}`;
      await startSecureSum(client, input({ image }), runId);
      return { runId, image, failure: await failureOf(runId) };
    }));
    for (const { runId, image, failure } of runs) {
      expect(failure.type).toBe('ERR_IMAGE_NOT_ALLOWED');
      expect(failure.message).toContain(`image ${image.name}@${image.digest} is not on site "${A}"'s allow-list`);
      expect(failure.message).toContain(`\`parley site allow ${image.name} --role protocol\``);
      expect(await runLeftovers(docker, runId)).toEqual({ containers: 0, volumes: 0 });
    }
  });

  it('refuses another organisation\'s changed key until `parley site trust` accepts it, then runs', async () => {
    // A and B have pinned C's keys (as after any earlier run)…
    for (const pinned of await Promise.all([A, B].map((org) => parley(['site', 'trust', C, '--yes', '--config', configOf(org)])))) expect(pinned.code).toBe(0);
    // …then C's operator rotates them: a new key file for C's worker, the public half published.
    await admin.createUser({ username: 'op-sop-c', password: PASSWORD, orgId: C, role: 'site_operator' });
    const operatorC = createApiClient(server.url, (await createApiClient(server.url).login('op-sop-c', PASSWORD)).accessToken);
    const rotated = await generateOrgKeys(C);
    const keyFile = join(root, `${C}-rotated.keys.json`);
    await writeKeyFile(keyFile, rotated);
    const doc = parseDocument(await readFile(configOf(C), 'utf8'));
    doc.set('keyFile', keyFile);
    await writeFile(configOf(C), doc.toString());
    await operatorC.publishKeys(C, publicKeysOf(rotated));
    // Workers keep fetched keys for a minute: restarted, they see the change at once.
    expect(await Promise.all([A, B, C].map((org) => stopSite(org)))).toEqual([0, 0, 0]);
    await Promise.all([A, B, C].map(startSite));

    const refused = `sop-keychange-${randomInt(1e9)}`;
    await startSecureSum(client, input(), refused);
    const failure = await failureOf(refused);
    expect(failure.type).toBe('ERR_KEY_CHANGED');
    expect(failure.message).toMatch(new RegExp(`Organisation "${C}"'s published (sign|receive) key changed: .*parley site trust ${C}`));

    for (const trusted of await Promise.all([A, B].map((org) => parley(['site', 'trust', C, '--yes', '--config', configOf(org)])))) {
      expect(trusted.code, trusted.stderr).toBe(0);
      expect(trusted.stdout).toMatch(new RegExp(`Keys of "${C}": CHANGED[\\s\\S]*Accepted`));
    }
    const accepted = `sop-keychange-${randomInt(1e9)}`;
    const outcome = (await (await startSecureSum(client, input(), accepted)).result()) as SecureSumResult;
    expect(await openSecureSumResult(outcome, sites.federation.requester, sites.federation.directory, A)).toBe(total);
    expect(await runLeftovers(docker, refused)).toEqual({ containers: 0, volumes: 0 });
    expect(await runLeftovers(docker, accepted)).toEqual({ containers: 0, volumes: 0 });
  });

  it('after a SIGKILL mid-step, a restart removes the container and the volume of a run that has ended', async () => {
    const runId = `sop-sigkill-${randomInt(1e9)}`;
    const handle = await startSecureSum(client, input({ image: hang, stepTimeoutMs: 120_000 }), runId);
    try {
      const stepRunning = async () => {
        const filters = JSON.stringify({ label: [`parley.run=${runId}`, `parley.site=${A}`] });
        for (;;) {
          if ((await docker.listContainers({ filters })).some((c) => c.State === 'running')) return;
          await new Promise((resolve) => setTimeout(resolve, 250));
        }
      };
      await stepRunning();
      await stopSite(A, 'SIGKILL');
      // The crash left both behind; the run then ends without the site (its cleanup never ran).
      expect(await runLeftovers(docker, runId, A)).toEqual({ containers: 1, volumes: 1 });
      await handle.terminate('the operator gave up on it');

      const restarted = await startSite(A);
      expect(await runLeftovers(docker, runId, A)).toEqual({ containers: 0, volumes: 0 });
      // The next site had prepared its step (issue 17): a terminated run's cleanup never comes, so
      // its prepared container goes when that worker stops, and its volume at the next start.
      expect(await stopSite(B)).toBe(0);
      expect(await runLeftovers(docker, runId, B)).toMatchObject({ containers: 0 });
      await startSite(B);
      expect(await runLeftovers(docker, runId)).toEqual({ containers: 0, volumes: 0 });
      const swept = restarted.stderr().split('\n').filter((l) => l.includes('"message":"orphans swept"')).map((l) => JSON.parse(l) as { runs: number });
      expect(swept[0]!.runs).toBeGreaterThanOrEqual(1);
    } finally {
      await handle.terminate('test over').catch(() => undefined);
      await removeRunVolumes(docker, { runId, org: A });
    }
  });

  it('every worker ends on SIGTERM with exit 0, leaving nothing of its organisation behind', async () => {
    for (const org of [A, B, C]) expect(await stopSite(org)).toBe(0);
    for (const org of [A, B, C]) {
      const filters = JSON.stringify({ label: [`parley.site=${org}`] });
      expect((await docker.listContainers({ all: true, filters })).length).toBe(0);
      expect(((await docker.listVolumes({ filters })).Volumes ?? []).length).toBe(0);
    }
  });
});
