/**
 * Sites set up at a running API as an operator would end up with them, for tests that run
 * `startSiteProcess` or `parley site start`: each organisation with its key file (0600) and
 * dataset, registered with its public keys, a site credential in its own 0600 file, and a
 * site.yaml naming all of it. The requester's keys are published too, so it can open results.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { ApiClient } from '../../activities/api-client.ts';
import type { ImageRef } from '../../activities/types.ts';
import type { OrgId } from '../../common/ids.ts';
import { createFederation, federationSigner, type Federation } from '../../demo/federation.ts';
import { ImageRole } from '../../activities/site-policy.ts';
import type { RunSigner } from '../../researcher/runs.ts';
import { repositoryOf } from '../../common/image-name.ts';
import { registerFederation } from './register-federation.ts';

export interface FixtureSites {
  federation: Federation;
  collaborationId: string;
  /** Organisation → its site.yaml. */
  configFiles: Map<OrgId, string>;
  /** The requester's signer of runs in the collaboration, which every site's site.yaml admits. */
  signer: RunSigner;
}

/** The `temporal:` section of a site.yaml, as written in the file. */
export type TemporalSection = Record<string, unknown> & { address: string };

/**
 * Creates the sites under `root` and registers them (and the requester) with the API as `admin`.
 * `temporal` gives each site's `temporal:` section; `extra` adds top-level keys to every site.yaml.
 */
export async function setUpSites(options: {
  root: string;
  admin: ApiClient;
  apiUrl: string;
  counts: ReadonlyMap<OrgId, bigint>;
  requester: OrgId;
  /** Allowed at every site; as protocol images unless an entry says otherwise. */
  allowedImages: Array<ImageRef & { role?: ImageRole; release?: boolean }>;
  temporal: TemporalSection;
  extra?: Record<string, unknown>;
}): Promise<FixtureSites> {
  const federation = await createFederation({ stateDir: options.root, counts: options.counts, requester: options.requester });
  const { collaborationId, credentials } = await registerFederation(options.admin, federation, `fixture-${federation.sites.map((s) => s.org).join('-')}`);
  const configFiles = new Map<OrgId, string>();
  for (const site of federation.sites) {
    const credential = credentials.get(site.org)!;
    const credentialFile = join(site.stateDir, 'site-credential');
    await writeFile(credentialFile, `${credential}\n`, { mode: 0o600 });
    const file = join(site.stateDir, 'site.yaml');
    await writeFile(file, stringify({
      organisation: site.org,
      keyFile: site.keyFile,
      stateDir: join(site.stateDir, 'state'),
      temporal: options.temporal,
      api: { url: options.apiUrl, credentialFile },
      datasets: site.datasets,
      allowedImages: options.allowedImages.map((image) => ({ name: repositoryOf(image.name), digest: image.digest, role: image.role ?? ImageRole.Protocol, ...(image.release ? { release: true } : {}) })),
      // The operator takes part in the collaboration and admits its requester, on its datasets.
      collaborations: { [collaborationId]: { requesters: [federation.requester.org], datasets: Object.keys(site.datasets) } },
      shutdownGraceSeconds: 5,
      ...options.extra,
    }));
    configFiles.set(site.org, file);
  }
  return { federation, collaborationId, configFiles, signer: federationSigner(federation, collaborationId) };
}

/** Rewrites the `temporal:` section of a site.yaml the fixture wrote. */
export async function withTemporal(file: string, temporal: TemporalSection, as: string): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  const { parse } = await import('yaml');
  const document = parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  const target = join(file, '..', as);
  await writeFile(target, stringify({ ...document, temporal }));
  return target;
}
