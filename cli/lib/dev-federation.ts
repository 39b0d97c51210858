/**
 * Registers `parley dev`'s federation on its freshly started API, as the server admin and each
 * site operator would with the `parley` command: the organisations, the researcher (its key file
 * and its user), a collaboration, and per site `parley site init / register / join` with the
 * example registry as its `patients` dataset. Done once per DIR; the API's database keeps it.
 */
import { copyFile, chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDocument } from 'yaml';
import { createApiClient } from '../../activities/api-client.ts';
import { writeKeyFile } from '../../activities/key-file.ts';
import { generateOrgKeys, publicKeysOf } from '../../crypto/index.ts';
import { ErrorCode, ParleyError } from '../../common/errors.ts';
import type { CommandIo } from './command.ts';
import { saveLogin, credentialsFile } from './config-store.ts';
import { siteCommand } from '../commands/site.ts';
import type { DevState } from './dev-state.ts';

/** The example registries (examples/data/registry-{a..e}.csv): the sites take them in turn. */
const REGISTRIES = ['a', 'b', 'c', 'd', 'e'].map((l) => fileURLToPath(new URL(`../../examples/data/registry-${l}.csv`, import.meta.url)));

/** The dataset name each dev site gives its registry, as the example chains read it. */
export const DEV_DATASET = 'patients';

/** Signs in and stores the login where `parley` with PARLEY_CONFIG_DIR=configDir finds it. */
export async function storeLogin(apiUrl: string, username: string, password: string, configDir: string): Promise<void> {
  const session = await createApiClient(apiUrl).login(username, password);
  const { user } = session;
  await saveLogin(credentialsFile({ PARLEY_CONFIG_DIR: configDir }), { api: apiUrl, token: session.accessToken, expiresAt: session.expiresAt, username: user.username, orgId: user.orgId, role: user.role });
}

/** `parley site …` in this process, logged in as stored in configDir; its stdout. */
async function site(args: string[], configDir: string, io: CommandIo): Promise<string> {
  let out = '';
  let err = '';
  const code = await siteCommand.run(args, { out: (l) => (out += `${l}\n`), err: (l) => (err += `${l}\n`), signal: io.signal, env: { ...io.env, PARLEY_CONFIG_DIR: configDir } });
  if (code !== 0) throw new ParleyError(ErrorCode.Prerequisite, `Setting up the dev federation: \`parley site ${args.join(' ')}\` failed:\n${err.trim()}`);
  return out;
}

/** Registers everything the state names; returns the collaboration's id. */
export async function registerDevFederation(dir: string, state: DevState, io: CommandIo): Promise<string> {
  const apiUrl = state.apiUrl!;
  const adminDir = join(dir, 'admin');
  await storeLogin(apiUrl, 'admin', state.adminPassword, adminDir);
  const anonymous = createApiClient(apiUrl);
  const admin = anonymous.withToken((await anonymous.login('admin', state.adminPassword)).accessToken);

  const { researcher } = state;
  const keys = await generateOrgKeys(researcher.org);
  await mkdir(researcher.configDir, { recursive: true, mode: 0o700 });
  await writeKeyFile(researcher.keyFile, keys);
  await admin.createOrganisation({ id: researcher.org, name: 'Dev researcher', keys: publicKeysOf(keys) });
  await admin.createUser({ username: researcher.username, password: state.researcherPassword, orgId: researcher.org, role: 'researcher' });
  for (const s of state.sites) {
    await admin.createOrganisation({ id: s.org, name: `Dev site ${s.org}` });
    // Publishing a site's keys takes its own operator: the admin may not speak for an organisation.
    await admin.createUser({ username: `${s.org}-operator`, password: state.researcherPassword, orgId: s.org, role: 'site_operator' });
  }
  const { id: collaborationId } = await admin.createCollaboration({ name: state.collaboration, members: [...state.sites.map((s) => s.org), researcher.org] });

  // The sites one after another: each `site …` loads and rewrites that site's own files only,
  // but the admin's stored login is shared.
  for (const [i, s] of state.sites.entries()) {
    const siteDir = join(dir, 'sites', s.org);
    const operatorDir = join(siteDir, 'cli');
    await storeLogin(apiUrl, `${s.org}-operator`, state.researcherPassword, operatorDir);
    await site(['init', '--org', s.org, '--api', apiUrl, '--dir', siteDir, '--temporal', state.temporalAddress!], operatorDir, io);
    const { credential } = JSON.parse((await site(['register', '--collab', collaborationId, '--org', s.org, '--config', s.config, '--json'], operatorDir, io)).trim().split('\n').at(-1)!) as { credential: string };
    await writeFile(join(siteDir, 'site-credential'), `${credential}\n`, { mode: 0o600 });
    // The site's own copy of its registry, readable by the sandbox's user.
    const data = join(siteDir, 'data');
    await mkdir(data, { recursive: true });
    const patients = join(data, `${DEV_DATASET}.csv`);
    await copyFile(REGISTRIES[i % REGISTRIES.length]!, patients);
    await chmod(patients, 0o644);
    const doc = parseDocument(await readFile(s.config, 'utf8'));
    doc.setIn(['datasets', DEV_DATASET], patients);
    // A dev site stops quickly: `parley dev down` waits for it.
    doc.set('shutdownGraceSeconds', 10);
    await writeFile(s.config, doc.toString());
    await site(['join', collaborationId, '--requesters', researcher.org, '--datasets', DEV_DATASET, '--config', s.config], operatorDir, io);
  }
  return collaborationId;
}
