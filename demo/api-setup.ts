/**
 * Registers the demo's federation with the Parley API, as a server admin and the organisations
 * would: organisations with their public keys, the researcher's user, a collaboration, and one
 * site per registry with its own credential.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { publicKeysOf, signSiteEnrolment } from '../crypto/index.ts';
import { createApiClient, type ApiClient } from '../activities/api-client.ts';
import { pinnedKeyDirectory } from '../activities/pinned-key-directory.ts';
import type { KeyDirectory } from '../activities/key-directory.ts';
import type { Federation } from './federation.ts';

export interface RegisteredFederation {
  collaborationId: string;
  /** The researcher, signed in. */
  researcher: ApiClient;
  /** The researcher's own view of published keys, pinned in its state directory. */
  researcherDirectory: KeyDirectory;
  /** Each site's view of published keys, fetched with its own credential and pinned. */
  siteDirectories: Map<string, KeyDirectory>;
}

/** Registers everything through the API as `admin`; returns what the workers and researcher need. */
export async function registerFederation(apiUrl: string, admin: { username: string; password: string }, federation: Federation): Promise<RegisteredFederation> {
  const anonymous = createApiClient(apiUrl);
  const asAdmin = anonymous.withToken((await anonymous.login(admin.username, admin.password)).accessToken);
  for (const member of [...federation.sites, federation.requester]) {
    await asAdmin.createOrganisation({ id: member.org, name: member.org, keys: publicKeysOf(member.keys) });
  }
  const researcherPassword = randomBytes(18).toString('base64url');
  const researcherName = federation.requester.org;
  await asAdmin.createUser({ username: researcherName, password: researcherPassword, orgId: federation.requester.org, role: 'researcher' });
  const collaboration = await asAdmin.createCollaboration({
    name: `demo-${Date.now()}`,
    members: [...federation.sites.map((s) => s.org), federation.requester.org],
  });
  const siteDirectories = new Map<string, KeyDirectory>();
  for (const site of federation.sites) {
    // Each registry consents with its own key, as its operator's `parley site register` would.
    const enrolment = await signSiteEnrolment(site.keys, collaboration.id);
    const { credential } = await asAdmin.registerSite({ collaborationId: collaboration.id, orgId: site.org, enrolment });
    siteDirectories.set(site.org, pinnedKeyDirectory({ api: anonymous.withToken(credential), pinFile: join(site.stateDir, 'pinned-keys.json') }));
  }
  const researcher = anonymous.withToken((await anonymous.login(researcherName, researcherPassword)).accessToken);
  const researcherDirectory = pinnedKeyDirectory({ api: researcher, pinFile: join(federation.requester.stateDir, 'pinned-keys.json') });
  // Each party fetches and pins the others' keys now, as a long-running site has long since done,
  // so the run itself does not wait on first fetches.
  const everyone = [...federation.sites.map((s) => s.org), federation.requester.org];
  await Promise.all([
    ...[...siteDirectories.values()].map((directory) => Promise.all(everyone.map((org) => directory.publicKeys(org)))),
    ...federation.sites.map((s) => researcherDirectory.publicKeys(s.org)),
  ]);
  return { collaborationId: collaboration.id, researcher, researcherDirectory, siteDirectories };
}
