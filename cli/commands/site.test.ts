/**
 * A site operator's commands against real parts: the API (startCentralServer over PGlite in a
 * temporary directory), the test run's Temporal server and the local Docker engine. `parley site
 * start` runs as the real process (signals, crash and restart); the other commands in this process
 * through main().
 */
import { randomInt } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { parseDocument } from 'yaml';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createApiClient, type ApiClient } from '../../activities/api-client.ts';
import { readKeyFile } from '../../activities/key-file.ts';
import { readPins } from '../../activities/pinned-key-directory.ts';
import { fingerprint, generateOrgKeys, publicKeysOf } from '../../crypto/index.ts';
import { removeRunVolumes } from '../../activities/sandbox/run-volume.ts';
import { ensureOrdinaryNodeImage, testDocker, testImages } from '../../test/support/docker-images.ts';
import { DEFAULT_MODULUS, startSecureSum } from '../../researcher/runs.ts';
import type { CentralServer } from '../../api/central-server.ts';
import { loadSiteConfig } from '../../workers/site/config.ts';
import { saveLogin } from '../lib/config-store.ts';
import { parley as parleyIn, startSiteCommand } from '../../test/support/parley-cli.ts';
import { testOrgs } from '../../test/support/test-orgs.ts';
import { startTestApi, startTestCoordinator } from '../../test/support/central-parts.ts';
import { testNamespace } from '../../test/support/test-namespace.ts';

const NAMESPACE = testNamespace(import.meta.url);

const PASSWORD = 'an operator passphrase';

let root: string;
let env: NodeJS.ProcessEnv;
let connection: Connection;
let server: CentralServer;
let admin: ApiClient;
let collabId: string;
// Names of this file's own: a site worker removes every container of its organisation at
// start-up, and other test files run sites on the same engine and Temporal server.
const ours = testOrgs(import.meta.url);
const [ORG, SOUTH, EAST, WEST] = [ours('north'), ours('south'), ours('east'), ours('west')];
const siteDir = () => join(root, ORG);
const configFile = () => join(siteDir(), 'site.yaml');

/** `parley <args>` in this process, as olive (the site operator) logged in under `root`/olive. */
const parley = (args: string[]) => parleyIn(args, { env });

async function loginAs(username: string, configDir: string): Promise<ApiClient> {
  const session = await createApiClient(server.url).login(username, PASSWORD);
  await saveLogin(join(configDir, 'credentials.json'), {
    api: server.url, token: session.accessToken, expiresAt: session.expiresAt, username, orgId: session.user.orgId, role: session.user.role,
  });
  return createApiClient(server.url, session.accessToken);
}

/** `parley site start` as its own process, resolved once its worker runs. */
/** Starts the site in this file's own Temporal namespace (its site.yaml's temporal.namespace). */
async function startSite() {
  const doc = parseDocument(await readFile(configFile(), 'utf8'));
  doc.setIn(['temporal', 'namespace'], NAMESPACE);
  await writeFile(configFile(), doc.toString());
  return startSiteCommand(configFile(), { env });
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'parley-site-cli-'));
  connection = await Connection.connect({ address: inject('temporalAddress') });
  ({ server, admin } = await startTestApi({ root, temporal: new Client({ connection, namespace: NAMESPACE }), adminPassword: PASSWORD }));
  await admin.createOrganisation({ id: ORG, name: 'North registry' });
  await admin.createOrganisation({ id: 'south', name: 'South registry', keys: publicKeysOf(await generateOrgKeys('south')) });
  await admin.createUser({ username: 'olive', password: PASSWORD, orgId: ORG, role: 'site_operator' });
  await admin.createUser({ username: 'sam', password: PASSWORD, orgId: 'south', role: 'site_operator' });
  collabId = (await admin.createCollaboration({ name: 'Registries', members: [ORG, 'south'] })).id;
  env = { ...process.env, PARLEY_CONFIG_DIR: join(root, 'olive') };
  await loginAs('olive', join(root, 'olive'));
});

afterAll(async () => {
  await server?.close();
  await connection?.close();
  await rm(root, { recursive: true, force: true });
});

describe('parley site (operator commands)', () => {
  it('init writes a commented configuration and a 0600 key file, and publishes the keys', async () => {
    const ran = await parley(['site', 'init', '--org', ORG, '--api', server.url, '--dir', siteDir(), '--temporal', inject('temporalAddress')]);
    expect(ran.code, ran.stderr).toBe(0);
    expect(ran.stdout).toMatch(new RegExp(`parley site register --collab COLLAB --org ${ORG}`));
    const config = await loadSiteConfig(configFile());
    expect(config).toMatchObject({ organisation: ORG, api: { url: server.url }, temporal: { address: inject('temporalAddress') } });
    expect(await readFile(configFile(), 'utf8')).toMatch(/# The organisation's private keys/);
    expect((await stat(config.keyFile)).mode & 0o777).toBe(0o600);
    const keys = await readKeyFile(config.keyFile);
    const published = await admin.organisationKeys(ORG);
    expect([published.receive.thumbprint, published.sign.thumbprint]).toEqual([keys.receive.publicJwk.kid, keys.sign.publicJwk.kid]);
    expect(ran.stdout).toContain(fingerprint(keys.sign.publicJwk.kid));

    const [again, wrongOrg] = await Promise.all([
      parley(['site', 'init', '--org', ORG, '--api', server.url, '--dir', siteDir()]),
      parley(['site', 'init', '--org', 'south', '--api', server.url, '--dir', join(root, 'south')]),
    ]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/site\.yaml already exists; `parley site init` never overwrites/);
    expect(wrongOrg.code).toBe(1);
    expect(wrongOrg.stderr).toMatch(`logged in as olive, site_operator of "${ORG}"; publishing "south"'s keys takes a site operator of "south"`);

    // The site's credential, stored as the next steps say: registered by its operator, who signs
    // the organisation's enrolment with the key file; the server admin alone could not.
    const [registered, byAdmin] = await Promise.all([
      parley(['site', 'register', '--collab', 'Registries', '--org', ORG, '--config', configFile(), '--json']),
      admin.registerSite({ collaborationId: collabId, orgId: ORG, enrolment: 'not-a-signed-enrolment' }).then(() => 'registered', (err: Error) => err.message),
    ]);
    expect(byAdmin).toMatch(`"${ORG}" has not consented to this site`);
    expect(registered.code).toBe(0);
    const { credential } = JSON.parse(registered.stdout) as { credential: string };
    expect(credential).toMatch(/^pst_/);
    await writeFile(config.api.credentialFile, `${credential}\n`, { mode: 0o600 });
  });

  it('allow pins the digest of a real local image and refuses an unknown one', async () => {
    const docker = testDocker();
    const ref = await ensureOrdinaryNodeImage(docker);
    const { Id } = await docker.getImage(ref).inspect();
    const [ran, unknown] = await Promise.all([
      parley(['site', 'allow', ref, '--config', configFile()]),
      parley(['site', 'allow', 'parley-test/no-such-image:1', '--config', configFile()]),
    ]);
    expect(ran.code, ran.stderr).toBe(0);
    expect(ran.stdout).toContain(`pinned at ${Id}`);
    expect((await loadSiteConfig(configFile())).allowedImages).toEqual([{ name: 'parley-test/ordinary-node', digest: Id, role: 'analysis' }]);
    expect(await readFile(configFile(), 'utf8')).toMatch(/Add one with `parley site allow <image> --role protocol\|analysis \[--release\]`/);

    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/No image "parley-test\/no-such-image:1" on this machine's Docker engine/);
  });

  it('trust pins on first use, shows "unchanged", and after a rotation shows old and new and accepts with --yes', async () => {
    const trust = (...extra: string[]) => parley(['site', 'trust', 'south', '--config', configFile(), ...extra]);
    const pinFile = join(siteDir(), 'state', 'pins.json');
    expect((await trust('--yes')).code).toBe(0);
    const pinned = (await readPins(pinFile)).south!;
    const unchanged = await trust();
    expect(unchanged.code, unchanged.stderr).toBe(0);
    expect(unchanged.stdout).toMatch(/Keys of "south": unchanged/);

    const sam = await loginAs('sam', join(root, 'sam'));
    const rotated = publicKeysOf(await generateOrgKeys('south'));
    await sam.publishKeys('south', rotated);
    const refused = await trust();
    expect(refused.code).toBe(1);
    expect(refused.stdout).toMatch(/Keys of "south": CHANGED/);
    expect(refused.stdout).toContain(`pinned ${fingerprint(pinned.sign)}  published ${fingerprint(rotated.sign.thumbprint)}  <- changed`);
    expect(refused.stdout).toMatch(/Not accepted\. .*parley site trust south --yes/);
    expect((await readPins(pinFile)).south!.sign).toBe(pinned.sign);

    const accepted = await trust('--yes');
    expect(accepted.code, accepted.stderr).toBe(0);
    expect(accepted.stdout).toMatch(/Accepted: south's keys are pinned/);
    expect((await readPins(pinFile)).south).toMatchObject({ receive: rotated.receive.thumbprint, sign: rotated.sign.thumbprint });
  });

  it('start comes up, status sees it healthy, and SIGTERM ends it promptly with exit 0', async () => {
    const { child, exited, stderr: logs } = await startSite();
    try {
      const status = await parley(['site', 'status', '--config', configFile(), '--json']);
      expect(status.code, status.stderr).toBe(0);
      expect(JSON.parse(status.stdout)).toMatchObject({
        organisation: ORG,
        temporal: { reachable: true },
        api: { reachable: true, site: { orgId: ORG, collaborationId: collabId } },
        pins: { south: { sign: expect.any(String) } },
        allowedImages: [{ name: 'parley-test/ordinary-node' }],
      });
    } finally {
      const stopping = Date.now();
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(Date.now() - stopping).toBeLessThan(15_000);
    }
    const stderr = logs();
    // Every log line is JSON; the one other line is the command's own notice of the signal.
    const lines = stderr.split('\n').filter((l) => l !== '' && !l.startsWith('SIGTERM: stopping cleanly'));
    for (const line of lines) expect(() => JSON.parse(line), line).not.toThrow();
    expect(lines.map((l) => JSON.parse(l).message)).toEqual(expect.arrayContaining(['site worker started', 'site worker stopping', 'site worker stopped']));
    const credential = (await readFile(join(siteDir(), 'site-credential'), 'utf8')).trim();
    expect(stderr).not.toContain(credential);
  });

  it('after a SIGKILL mid-step the restarted worker removes the stranded container; SIGTERM mid-step cancels after the grace period, exit 0', async () => {
    const docker = testDocker();
    const { hang } = await testImages(docker, { hang: 'test-fixtures/hang' });
    expect((await parley(['site', 'allow', hang.ref, '--role', 'protocol', '--config', configFile()])).code).toBe(0);
    // The requester "west" signs the run; the site admits it in collaboration "local".
    const west = await generateOrgKeys(WEST);
    await admin.createOrganisation({ id: WEST, name: 'West lab', keys: publicKeysOf(west) });
    const dataset = join(root, 'count.csv');
    await writeFile(dataset, '7\n');
    const doc = parseDocument(await readFile(configFile(), 'utf8'));
    doc.set('shutdownGraceSeconds', 2);
    doc.set('collaborations', doc.createNode({ local: { requesters: [WEST], datasets: ['count'] } }));
    doc.setIn(['datasets', 'count'], dataset);
    await writeFile(configFile(), doc.toString());

    const coordinator = await startTestCoordinator(inject('temporalAddress'), NAMESPACE);
    const runId = `site-sigterm-${randomInt(1e9)}`;
    let site = await startSite();
    const handle = await startSecureSum(new Client({ connection, namespace: NAMESPACE }), {
      participants: [ORG, SOUTH, EAST], requester: WEST, dataset: 'count', modulus: DEFAULT_MODULUS,
      image: { name: hang.name, digest: hang.digest }, stepTimeoutMs: 120_000, signer: { keys: west, collaboration: 'local' },
    }, runId);
    const stepContainers = () => docker.listContainers({ all: true, filters: { label: [`parley.run=${runId}`, `parley.site=${ORG}`] } });
    const runningStep = async (except?: string) => {
      const deadline = Date.now() + 60_000;
      for (;;) {
        const running = (await stepContainers()).find((c) => c.State === 'running' && c.Id !== except);
        if (running) return running.Id;
        if (Date.now() > deadline) throw new Error(`the step never started:\n${site.stderr()}`);
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    };
    try {
      // A crash: nothing stops the container, and the run is still live.
      const stranded = await runningStep();
      site.child.kill('SIGKILL');
      await site.exited;
      expect((await stepContainers()).map((c) => c.Id)).toContain(stranded);
      site = await startSite();
      expect((await stepContainers()).map((c) => c.Id)).not.toContain(stranded);

      // The step is retried at the restarted worker (after its heartbeat times out); stop it mid-step.
      await runningStep(stranded);
      const stopping = Date.now();
      site.child.kill('SIGTERM');
      expect(await site.exited, site.stderr()).toBe(0);
      const took = Date.now() - stopping;
      expect(took).toBeGreaterThanOrEqual(2_000);
      expect(took).toBeLessThan(20_000);
      expect(await stepContainers()).toEqual([]);
    } finally {
      if (site.child.exitCode === null) site.child.kill('SIGKILL');
      await handle.terminate('test over').catch(() => undefined);
      await coordinator.stop();
      await removeRunVolumes(docker, { runId, org: ORG });
    }
  });
});
