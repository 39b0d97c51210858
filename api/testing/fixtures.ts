/**
 * Fresh, uniquely named test data made through the API itself (so fixtures exercise the same
 * paths as callers): organisations with real keys, users of each role, collaborations, sites.
 */
import { randomBytes } from 'node:crypto';
import { generateOrgKeys, publicKeysOf, signRunManifest, signSiteEnrolment } from '../../crypto/index.ts';
import type { ChainSpec } from '../../common/chain.ts';
import { MANIFEST_VERSION } from '../../common/run-manifest.ts';
import type { OrgKeys } from '../../crypto/index.ts';
import type { UserRole } from '../../common/roles.ts';
import type { Harness } from './harness.ts';
import { call, login } from './http.ts';

/** A short random suffix for unique names. */
export function uid(): string {
  return randomBytes(4).toString('hex');
}

function must(res: { status: number; text: string }, expected: number, what: string): void {
  if (res.status !== expected) throw new Error(`${what}: expected ${expected}, got ${res.status} ${res.text}`);
}

/** An organisation and (test-only) its private keys. */
export interface OrgFixture {
  id: string;
  keys: OrgKeys;
}

/** Registers an organisation, with published keys unless `keys: false`. */
export async function createOrg(h: Harness, options: { keys?: boolean; prefix?: string } = {}): Promise<OrgFixture> {
  const id = `${options.prefix ?? 'org'}-${uid()}`;
  const keys = await generateOrgKeys(id);
  const res = await call(h.app, 'POST', '/v1/organisations', {
    token: h.adminToken,
    body: { id, name: `Organisation ${id}`, ...(options.keys === false ? {} : { keys: publicKeysOf(keys) }) },
  });
  must(res, 201, `create organisation ${id}`);
  return { id, keys };
}

/** A user with a password and a fresh access token. */
export interface UserFixture {
  id: string;
  username: string;
  password: string;
  orgId: string;
  role: UserRole;
  token: string;
}

/** Creates a user of `role` in `orgId` and logs them in. */
export async function createUser(h: Harness, orgId: string, role: UserRole): Promise<UserFixture> {
  const username = `${role.replace('_', '-')}-${uid()}`;
  const password = `pw-${randomBytes(12).toString('base64url')}`;
  const res = await call(h.app, 'POST', '/v1/users', { token: h.adminToken, body: { username, password, orgId, role } });
  must(res, 201, `create user ${username}`);
  return { id: res.body.id, username, password, orgId, role, token: await login(h.app, username, password) };
}

/** Creates a collaboration of `members`. */
export async function createCollaboration(h: Harness, members: string[]): Promise<{ id: string; name: string }> {
  const name = `Collaboration ${uid()}`;
  const res = await call(h.app, 'POST', '/v1/collaborations', { token: h.adminToken, body: { name, members } });
  must(res, 201, `create collaboration ${name}`);
  return { id: res.body.id, name };
}

/** Registers `org`'s site in a collaboration as `token`'s user, with `org`'s signed enrolment; returns its id and credential. */
export async function registerSite(h: Harness, token: string, collaborationId: string, org: OrgFixture): Promise<{ id: string; credential: string }> {
  const enrolment = await signSiteEnrolment(org.keys, collaborationId);
  const res = await call(h.app, 'POST', '/v1/sites', { token, body: { collaborationId, orgId: org.id, enrolment } });
  must(res, 201, `register site of ${org.id}`);
  return { id: res.body.site.id, credential: res.body.credential };
}

/** A requesting organisation and three site organisations, ready to run a secure sum. */
export interface Federation {
  lab: OrgFixture;
  sites: OrgFixture[];
  collaboration: { id: string; name: string };
  researcher: UserFixture;
  operators: UserFixture[];
  credentials: string[];
  siteIds: string[];
}

/** Builds a complete federation: orgs with keys, a collaboration, a researcher, live sites. */
export async function createFederation(h: Harness, siteCount = 3): Promise<Federation> {
  const lab = await createOrg(h, { prefix: 'lab' });
  const sites = await Promise.all(Array.from({ length: siteCount }, () => createOrg(h, { prefix: 'site' })));
  const collaboration = await createCollaboration(h, [lab.id, ...sites.map((s) => s.id)]);
  const researcher = await createUser(h, lab.id, 'researcher');
  const operators = await Promise.all(sites.map((s) => createUser(h, s.id, 'site_operator')));
  const registered = await Promise.all(sites.map((s, i) => registerSite(h, operators[i]!.token, collaboration.id, s)));
  return { lab, sites, collaboration, researcher, operators, credentials: registered.map((r) => r.credential), siteIds: registered.map((r) => r.id) };
}

/**
 * `body` of POST /v1/runs with the run's manifest signed by the federation's lab, as its
 * researcher's client would sign it: participants as given, else every site of the federation
 * (sorted, as the API's default); a chain run when `body.chain`, else a ring secure sum. A body
 * that already has `manifest`, or that no manifest can be signed for (a malformed one) gets a placeholder.
 */
export async function withSignedManifest(fed: Federation, body: Record<string, unknown>, runId = `run-${uid()}`): Promise<Record<string, unknown>> {
  if ('manifest' in body) return body;
  const participants = (body.participants as string[] | undefined) ?? fed.sites.map((s) => s.id).sort();
  const plan = body.chain !== undefined
    ? { kind: 'chain' as const, chain: body.chain as ChainSpec }
    : { kind: 'secure-sum' as const, protocol: 'ring' as const, dataset: body.dataset as string, modulus: body.modulus as string, image: body.image as { name: string; digest: string } };
  const now = Date.now();
  try {
    const manifest = await signRunManifest({
      v: MANIFEST_VERSION, runId, collaboration: body.collaborationId as string, requester: fed.lab.id, participants, plan,
      createdAt: new Date(now).toISOString(), expiresAt: new Date(now + 3_600_000).toISOString(),
    }, fed.lab.keys.sign.privateJwk);
    return { ...body, manifest };
  } catch {
    // Unsignable (e.g. the requester among the participants): a placeholder of the right shape,
    // so the API's own checks of the request answer first, as they would for a real client.
    return { ...body, manifest: 'unsigned.manifest.placeholder' };
  }
}
