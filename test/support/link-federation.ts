/**
 * A federation for linkage runs on real parts: the API (in-memory PGlite) with its blob store —
 * a linkage's lists are megabytes, so they travel as sealed blobs, with references in the
 * history — site workers that reach it with their own site credentials, and the coordinator.
 * For test/e2e/linkage.test.ts and bench/linkage.bench.ts.
 */
import { randomInt } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import type Docker from 'dockerode';
import { createApiClient } from '../../activities/api-client.ts';
import { apiBlobStore } from '../../activities/blob-store.ts';
import type { AllowedImage } from '../../activities/site-policy.ts';
import type { OrgId } from '../../common/ids.ts';
import { createFederation, federationPolicyOf, federationSigner, siteDepsOf, type Federation } from '../../demo/federation.ts';
import type { RunSigner } from '../../researcher/runs.ts';
import { startLocalCluster, type LocalCluster } from '../../demo/local-cluster.ts';
import { startTestApi, type TestApi } from './central-parts.ts';
import { registerFederation } from './register-federation.ts';

export interface LinkFederation {
  federation: Federation;
  cluster: LocalCluster;
  api: TestApi;
  /** Signs runs for the API's collaboration of the sites: the blob store admits only its participants' uploads. */
  signer: RunSigner;
  stop(): Promise<void>;
}

export async function startLinkFederation(options: {
  temporalAddress: string;
  namespace?: string;
  docker: Docker;
  stateDir: string;
  sites: OrgId[];
  requester: OrgId;
  /** Per site: dataset name → a CSV file to copy into the site's data directory. */
  files: ReadonlyMap<OrgId, Readonly<Record<string, string>>>;
  allowed: AllowedImage[];
}): Promise<LinkFederation> {
  const connection = await Connection.connect({ address: options.temporalAddress });
  const stops: Array<() => Promise<unknown>> = [() => connection.close()];
  const stop = async () => {
    for (const s of stops.reverse()) await s().catch(() => undefined);
  };
  try {
    const api = await startTestApi({
      root: options.stateDir, temporal: new Client({ connection, ...(options.namespace ? { namespace: options.namespace } : {}) }),
      adminPassword: `admin-${randomInt(1e9)}`, blobRetentionMs: 0,
    });
    stops.push(() => api.server.close());
    const federation = await createFederation({ stateDir: options.stateDir, counts: new Map(options.sites.map((org) => [org, 0n])), requester: options.requester, files: options.files });
    const { collaborationId, credentials } = await registerFederation(api.admin, federation, `link-${randomInt(1e9)}`);
    const sites = federation.sites.map((site) => ({
      ...siteDepsOf(site, federation, options.docker, options.allowed, federation.directory, federationPolicyOf(site, federation, collaborationId)),
      blobs: apiBlobStore(createApiClient(api.server.url, credentials.get(site.org)!)),
    }));
    const cluster = await startLocalCluster({ temporalAddress: options.temporalAddress, ...(options.namespace ? { namespace: options.namespace } : {}), sites });
    stops.push(() => cluster.shutdown());
    return { federation, cluster, api, signer: federationSigner(federation, collaborationId), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
