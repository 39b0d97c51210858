/**
 * Registers the demo's federation with the Parley API, as a server admin and the organisations
 * would: organisations with their public keys, the researcher's user, a collaboration, and one
 * site per registry with its own credential. Idempotent over a kept state directory: what an
 * earlier demo registered in the kept database is found and checked against the key files and
 * the demo's record (demo/demo-state.ts), not registered again.
 */
import { join } from 'node:path';
import { ErrorCode, ParleyError } from '../common/errors.ts';
import type { OrgId } from '../common/ids.ts';
import { publicKeysOf, signSiteEnrolment } from '../crypto/index.ts';
import { ApiClientError, createApiClient, type ApiClient } from '../activities/api-client.ts';
import { pinnedKeyDirectory } from '../activities/pinned-key-directory.ts';
import { apiBlobStore, type BlobStore } from '../activities/blob-store.ts';
import type { KeyDirectory } from '../activities/key-directory.ts';
import type { DemoStateStore } from './demo-state.ts';
import type { Federation, FederationMember } from './federation.ts';

export interface RegisteredFederation {
  collaborationId: string;
  /** The researcher, signed in. */
  researcher: ApiClient;
  /** The researcher's own view of published keys, pinned in its state directory. */
  researcherDirectory: KeyDirectory;
  /** Each site's view of published keys, fetched with its own credential and pinned. */
  siteDirectories: Map<string, KeyDirectory>;
  /** Each site's blob store: the API's, with its own credential (as `parley site start` has it). */
  siteBlobs: Map<string, BlobStore>;
}

/** What an earlier demo left that does not fit the kept database: remove the directory. */
function mixedUp(store: DemoStateStore, what: string): ParleyError {
  return new ParleyError(
    ErrorCode.InvalidInput,
    `The demo's state directory ${store.dir} does not hang together: ${what}. Remove it to start afresh (new keys, a new database), or give another --state-dir.`,
    { path: store.dir },
  );
}

const conflicted = (err: unknown) => err instanceof ApiClientError && err.status === 409;

async function signIn(api: ApiClient, username: string, password: string, store: DemoStateStore): Promise<ApiClient> {
  try {
    return api.withToken((await api.login(username, password)).accessToken);
  } catch (err) {
    if (err instanceof ApiClientError && err.status === 401) throw mixedUp(store, `the kept database does not accept the password the demo kept for "${username}"`);
    throw err;
  }
}

/** Registers the organisation with its keys; an earlier registration must hold the same keys. */
async function ensureOrganisation(asAdmin: ApiClient, member: FederationMember, store: DemoStateStore): Promise<void> {
  const keys = publicKeysOf(member.keys);
  try {
    await asAdmin.createOrganisation({ id: member.org, name: member.org, keys });
    return;
  } catch (err) {
    if (!conflicted(err)) throw err;
  }
  const published = await asAdmin.organisationKeys(member.org);
  if (published.receive.thumbprint !== keys.receive.thumbprint || published.sign.thumbprint !== keys.sign.thumbprint) {
    throw mixedUp(store, `the kept database publishes other keys for "${member.org}" than its key file ${member.keyFile}`);
  }
}

/** The kept collaboration with every member added, or a new one (recorded at once). */
async function ensureCollaboration(asAdmin: ApiClient, members: OrgId[], store: DemoStateStore): Promise<string> {
  const keptId = store.state.collaborationId;
  if (keptId === undefined) {
    const created = await asAdmin.createCollaboration({ name: `demo-${Date.now()}`, members });
    await store.update({ collaborationId: created.id });
    return created.id;
  }
  const kept = (await asAdmin.collaborations()).collaborations.find((c) => c.id === keptId);
  if (kept === undefined) throw mixedUp(store, `the kept database has no collaboration ${keptId}, the one the demo recorded`);
  // A later demo may take part with more registries (--sites) than the first did.
  for (const org of members) {
    if (!kept.members.some((m) => m.orgId === org)) await asAdmin.addMember(keptId, org);
  }
  return keptId;
}

/**
 * Each site's worker credential: kept from an earlier demo, or issued now — the sites at once —
 * and recorded at once (a credential is shown only once), also when another site's fails.
 */
async function ensureSiteCredentials(asAdmin: ApiClient, collaborationId: string, sites: FederationMember[], store: DemoStateStore): Promise<Map<OrgId, string>> {
  const issued = await Promise.allSettled(sites.map(async (site): Promise<[OrgId, string, boolean]> => {
    const kept = store.state.siteCredentials[site.org];
    if (kept !== undefined) return [site.org, kept, false];
    try {
      // Each registry consents with its own key, as its operator's `parley site register` would.
      const enrolment = await signSiteEnrolment(site.keys, collaborationId);
      const { credential } = await asAdmin.registerSite({ collaborationId, orgId: site.org, enrolment });
      return [site.org, credential, true];
    } catch (err) {
      if (conflicted(err)) throw mixedUp(store, `"${site.org}" already has a site in the kept database, but the demo kept no credential for it`);
      throw err;
    }
  }));
  const credentials = issued.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const fresh = credentials.filter(([, , isNew]) => isNew);
  // One write for all: concurrent writes of the state file could land in either order.
  if (fresh.length > 0) await store.update({ siteCredentials: { ...store.state.siteCredentials, ...Object.fromEntries(fresh.map(([org, credential]) => [org, credential])) } });
  const failed = issued.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return new Map(credentials.map(([org, credential]) => [org, credential]));
}

/**
 * Registers everything through the API as the kept admin, or finds it registered by an earlier
 * demo; returns what the workers and researcher need.
 * @throws ParleyError InvalidInput when the kept database and the state directory disagree.
 */
export async function registerFederation(apiUrl: string, admin: { username: string; password: string }, federation: Federation, store: DemoStateStore): Promise<RegisteredFederation> {
  const anonymous = createApiClient(apiUrl);
  const asAdmin = await signIn(anonymous, admin.username, admin.password, store);
  const researcherName = federation.requester.org;
  // The researcher: its organisation, its user, and its sign-in, which then runs beside the
  // collaboration's and the sites' registration (its two password hashes are most of the cost).
  const researcherOrg = ensureOrganisation(asAdmin, federation.requester, store);
  const researcherSignIn = (async () => {
    await researcherOrg;
    try {
      await asAdmin.createUser({ username: researcherName, password: store.state.researcherPassword, orgId: federation.requester.org, role: 'researcher' });
    } catch (err) {
      // Kept from an earlier demo: signing in below shows it is the same user.
      if (!conflicted(err)) throw err;
    }
    return signIn(anonymous, researcherName, store.state.researcherPassword, store);
  })();
  // Awaited below; a failure meanwhile is not an unhandled rejection.
  researcherSignIn.catch(() => undefined);
  // The organisations are independent of one another: registered at once.
  await Promise.all([researcherOrg, ...federation.sites.map((member) => ensureOrganisation(asAdmin, member, store))]);
  const everyone = [...federation.sites.map((s) => s.org), federation.requester.org];
  const collaborationId = await ensureCollaboration(asAdmin, everyone, store);
  const siteDirectories = new Map<string, KeyDirectory>();
  const siteBlobs = new Map<string, BlobStore>();
  for (const [org, credential] of await ensureSiteCredentials(asAdmin, collaborationId, federation.sites, store)) {
    const site = federation.sites.find((s) => s.org === org)!;
    siteDirectories.set(org, pinnedKeyDirectory({ api: anonymous.withToken(credential), pinFile: join(site.stateDir, 'pinned-keys.json') }));
    siteBlobs.set(org, apiBlobStore(anonymous.withToken(credential)));
  }
  const researcher = await researcherSignIn;
  const researcherDirectory = pinnedKeyDirectory({ api: researcher, pinFile: join(federation.requester.stateDir, 'pinned-keys.json') });
  // Each party fetches and pins the others' keys now, as a long-running site has long since done,
  // so the run itself does not wait on first fetches. Over a kept state directory this also
  // checks the kept pins and credentials against the kept database.
  try {
    await Promise.all([
      ...[...siteDirectories.values()].map((directory) => Promise.all(everyone.map((org) => directory.publicKeys(org)))),
      ...federation.sites.map((s) => researcherDirectory.publicKeys(s.org)),
    ]);
  } catch (err) {
    if (err instanceof ApiClientError && err.status === 401) throw mixedUp(store, 'the kept database does not accept a site credential the demo kept');
    throw err;
  }
  return { collaborationId, researcher, researcherDirectory, siteDirectories, siteBlobs };
}
