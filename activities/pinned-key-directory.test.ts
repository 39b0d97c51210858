/**
 * Trust on first use, against the real API: a site pins an organisation's keys the first time it
 * fetches them and refuses a changed key until its operator accepts it.
 */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { generateOrgKeys, publicKeysOf } from '../crypto/index.ts';
import { startCentralServer, type CentralServer } from '../api/central-server.ts';
import { createApiClient, type ApiClient } from './api-client.ts';
import { acceptKeys, pinnedKeyDirectory } from './pinned-key-directory.ts';
import { testNamespace } from '../test/support/test-namespace.ts';

let dir: string;
let connection: Connection;
let central: CentralServer;
let admin: ApiClient;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'parley-pins-'));
  connection = await Connection.connect({ address: inject('temporalAddress') });
  central = await startCentralServer({ stateDir: join(dir, 'server'), temporal: new Client({ connection, namespace: testNamespace(import.meta.url) }), quiet: true });
  const anonymous = createApiClient(central.url);
  admin = anonymous.withToken((await anonymous.login(central.admin.username, central.admin.password!)).accessToken);
});

afterAll(async () => {
  await central?.close();
  await connection?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('pinned key directory', () => {
  it('pins keys on first use, refuses a changed key, and accepts it once the operator does', async () => {
    const first = await generateOrgKeys('north');
    await admin.createOrganisation({ id: 'north', name: 'North registry', keys: publicKeysOf(first) });
    const pinFile = join(dir, 'site', 'pinned-keys.json');

    const keys = await pinnedKeyDirectory({ api: admin, pinFile }).publicKeys('north');
    expect(keys?.sign.thumbprint).toBe(publicKeysOf(first).sign.thumbprint);
    expect((await stat(pinFile)).mode & 0o777).toBe(0o600);

    // North's operator rotates its keys on the server (as a compromised server could, too).
    await admin.createUser({ username: 'north-operator', password: 'correct horse battery staple', orgId: 'north', role: 'site_operator' });
    const operator = admin.withToken((await admin.login('north-operator', 'correct horse battery staple')).accessToken);
    const second = await generateOrgKeys('north');
    await operator.publishKeys('north', publicKeysOf(second));

    const afterRotation = pinnedKeyDirectory({ api: admin, pinFile });
    await expect(afterRotation.publicKeys('north')).rejects.toMatchObject({
      code: 'ERR_KEY_CHANGED',
      message: expect.stringMatching(/"north"'s published (sign|receive) key changed: pinned .+, now .+\. .*parley site trust north/),
    });

    await acceptKeys(pinFile, publicKeysOf(second));
    const accepted = await pinnedKeyDirectory({ api: admin, pinFile }).publicKeys('north');
    expect(accepted?.sign.thumbprint).toBe(publicKeysOf(second).sign.thumbprint);
  });

  it('answers undefined for an organisation the API does not know', async () => {
    expect(await pinnedKeyDirectory({ api: admin, pinFile: join(dir, 'other.json') }).publicKeys('nobody')).toBeUndefined();
  });
});
