/**
 * A federation (demo/federation.ts) made known to a running API as its admin would: every
 * organisation with its public keys, one collaboration of all of them, and each site registered
 * with an enrolment its own key signed. For the tests that run sites against a real API.
 */
import type { ApiClient } from '../../activities/api-client.ts';
import type { OrgId } from '../../common/ids.ts';
import { publicKeysOf, signSiteEnrolment } from '../../crypto/index.ts';
import type { Federation } from '../../demo/federation.ts';

export interface RegisteredFederation {
  collaborationId: string;
  /** Each site's credential for the API (its blob store, its keys). */
  credentials: Map<OrgId, string>;
}

export async function registerFederation(admin: ApiClient, federation: Federation, collaborationName: string): Promise<RegisteredFederation> {
  for (const member of [...federation.sites, federation.requester]) {
    await admin.createOrganisation({ id: member.org, name: member.org, keys: publicKeysOf(member.keys) });
  }
  const { id: collaborationId } = await admin.createCollaboration({
    name: collaborationName,
    members: [...federation.sites.map((s) => s.org), federation.requester.org],
  });
  const credentials = new Map<OrgId, string>();
  for (const site of federation.sites) {
    const { credential } = await admin.registerSite({ collaborationId, orgId: site.org, enrolment: await signSiteEnrolment(site.keys, collaborationId) });
    credentials.set(site.org, credential);
  }
  return { collaborationId, credentials };
}
