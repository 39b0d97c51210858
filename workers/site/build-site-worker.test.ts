/**
 * The one-machine cluster builds its site workers with `parley site start`'s builder, so it
 * clears what a crashed worker left exactly as a site's own process does.
 */
import { randomInt } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Label } from '../../activities/sandbox/contract.ts';
import { ensureRunVolume, removeRunVolumes } from '../../activities/sandbox/run-volume.ts';
import { createFederation, siteDepsOf } from '../../demo/federation.ts';
import { startLocalCluster, type LocalCluster } from '../../demo/local-cluster.ts';
import { testNamespace } from '../../test/support/test-namespace.ts';
import { testDocker, testImages } from '../../test/support/docker-images.ts';
import { runLeftovers } from '../../test/support/run-leftovers.ts';

// This file's own organisation: the sweep removes everything labelled with it.
const ORG = 'sweep-north';
const docker = testDocker();
let stateDir: string;
let connection: Connection;
let client: Client;
let cluster: LocalCluster | undefined;

beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'parley-sweep-test-'));
  connection = await Connection.connect({ address: inject('temporalAddress') });
  client = new Client({ connection, namespace: testNamespace(import.meta.url) });
});

afterAll(async () => {
  await cluster?.shutdown();
  await removeRunVolumes(docker, { org: ORG });
  await connection?.close();
  if (stateDir) await rm(stateDir, { recursive: true, force: true });
});

describe('a site worker of the one-machine cluster', () => {
  it('removes at start-up a stranded step container and the volume of an ended run, and keeps a live run\'s volume', async () => {
    const { base } = await testImages(docker, {});
    const ended = `test-ended-${randomInt(1e9)}`;
    const live = `test-live-${randomInt(1e9)}`;
    // A run Temporal still runs: nothing polls its task queue, so it stays running.
    const handle = await client.workflow.start('noSuchWorkflow', { taskQueue: `nobody-polls-${live}`, workflowId: live, args: [] });
    try {
      await ensureRunVolume(docker, ended, ORG);
      await ensureRunVolume(docker, live, ORG);
      // A SIGKILLed worker's step container of the live run: no worker watches it any more.
      await docker.createContainer({ Image: base.ref, Cmd: ['true'], Labels: { [Label.Run]: live, [Label.Site]: ORG } });

      const federation = await createFederation({ stateDir, counts: new Map([[ORG, 0n]]), requester: 'sweep-researcher' });
      cluster = await startLocalCluster({ temporalAddress: inject('temporalAddress'), namespace: testNamespace(import.meta.url), sites: federation.sites.map((site) => siteDepsOf(site, federation, docker, [])) });

      expect(await runLeftovers(docker, ended)).toEqual({ containers: 0, volumes: 0 });
      expect(await runLeftovers(docker, live)).toEqual({ containers: 0, volumes: 1 });
    } finally {
      await handle.terminate('test over');
    }
  });
});
