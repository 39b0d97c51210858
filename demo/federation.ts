/**
 * The demo's organisations on one machine: each with its own key file (0600), its own dataset
 * and its own state directory, and a shared directory of public keys standing in for what the
 * Parley API publishes in a deployment.
 */
import { copyFile, chmod, mkdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { ErrorCode, ParleyError } from '../common/errors.ts';
import type { OrgId } from '../common/ids.ts';
import { generateOrgKeys, publicKeysOf, type OrgKeys } from '../crypto/index.ts';
import { fileKeyDirectory, publishPublicKeys, type KeyDirectory } from '../activities/key-directory.ts';
import { readKeyFile, writeKeyFile } from '../activities/key-file.ts';
import { createRunLedger } from '../activities/run-ledger.ts';
import type { SiteDeps } from '../activities/site-activities.ts';
import { DEFAULT_MIN_MODULUS, DEFAULT_MIN_SITES, NO_PRIVACY_POLICY, type AllowedImage, type SitePolicy } from '../activities/site-policy.ts';
import type { RunSigner } from '../researcher/runs.ts';

export interface FederationMember {
  org: OrgId;
  keys: OrgKeys;
  keyFile: string;
  stateDir: string;
}

export interface FederationSite extends FederationMember {
  /** Dataset name → host path. */
  datasets: Record<string, string>;
  /** The site's disclosure threshold (SiteDeps.disclosureThreshold); the sandbox's default of 10 when absent. */
  disclosureThreshold?: number;
}

export interface Federation {
  sites: FederationSite[];
  requester: FederationMember;
  directoryDir: string;
  directory: KeyDirectory;
}

/** The dataset every demo site holds: a directory with one `count` file. */
export const COUNT_DATASET = 'registry';

async function createMember(stateDir: string, org: OrgId): Promise<FederationMember> {
  const memberDir = join(stateDir, 'orgs', org);
  await mkdir(memberDir, { recursive: true, mode: 0o700 });
  const keyFile = join(memberDir, 'keys.json');
  return { org, keys: await keptOrNewKeys(keyFile, org), keyFile, stateDir: memberDir };
}

/**
 * The organisation's keys from its key file when a kept state directory (`--state-dir`) has one,
 * so a later demo meets the same sites with the same keys; new keys otherwise.
 * @throws ParleyError KeyInvalid when the file is unreadable, malformed, or another organisation's.
 */
async function keptOrNewKeys(keyFile: string, org: OrgId): Promise<OrgKeys> {
  const kept = await stat(keyFile).then(() => true, () => false);
  if (!kept) {
    const keys = await generateOrgKeys(org);
    await writeKeyFile(keyFile, keys);
    return keys;
  }
  const keys = await readKeyFile(keyFile).catch((err: unknown) => {
    throw new ParleyError(ErrorCode.KeyInvalid, `${(err as Error).message} The demo's state directory is damaged: remove it to start afresh with new keys.`, { path: keyFile, org }, { cause: err });
  });
  if (keys.org !== org) {
    throw new ParleyError(ErrorCode.KeyInvalid, `${keyFile} holds the keys of "${keys.org}", not of "${org}": the state directory was mixed up. Remove it to start afresh.`, { path: keyFile, org });
  }
  return keys;
}

/** Creates the organisations, their keys and datasets under `stateDir`, and publishes public keys. */
export async function createFederation(options: {
  stateDir: string;
  counts: ReadonlyMap<OrgId, bigint>;
  requester: OrgId;
  /**
   * More datasets per site: dataset name → a file to copy into the site's own data directory
   * (each site keeps its own copy, as it would keep its own data).
   */
  files?: ReadonlyMap<OrgId, Readonly<Record<string, string>>>;
}): Promise<Federation> {
  const directoryDir = join(options.stateDir, 'directory');
  const sites: FederationSite[] = [];
  for (const [org, count] of options.counts) {
    const member = await createMember(options.stateDir, org);
    const datasetDir = join(member.stateDir, 'data', COUNT_DATASET);
    await mkdir(datasetDir, { recursive: true, mode: 0o755 });
    await writeFile(join(datasetDir, 'count'), `${count}\n`, { mode: 0o644 });
    const datasets: Record<string, string> = { [COUNT_DATASET]: datasetDir };
    for (const [name, source] of Object.entries(options.files?.get(org) ?? {})) {
      const target = join(member.stateDir, 'data', name);
      await copyFile(source, target);
      // Readable by the sandbox's user, as a site's datasets are; the site's directory is not.
      await chmod(target, 0o644);
      datasets[name] = target;
    }
    await publishPublicKeys(directoryDir, publicKeysOf(member.keys));
    sites.push({ ...member, datasets });
  }
  const requester = await createMember(options.stateDir, options.requester);
  await publishPublicKeys(directoryDir, publicKeysOf(requester.keys));
  return { sites, requester, directoryDir, directory: fileKeyDirectory(directoryDir) };
}

/** The collaboration a federation's runs belong to when no API assigns one. */
export const LOCAL_COLLABORATION = 'local';

/**
 * The policy of one site of the federation: it takes part in `collaboration`, admits runs the
 * federation's requester asks for there, on any of its own datasets, with the default thresholds and no privacy budgets.
 */
export function federationPolicyOf(site: FederationSite, federation: Federation, collaboration = LOCAL_COLLABORATION): SitePolicy {
  return {
    collaborations: { [collaboration]: { requesters: [federation.requester.org], datasets: Object.keys(site.datasets) } },
    minSites: DEFAULT_MIN_SITES,
    minModulus: DEFAULT_MIN_MODULUS,
    privacy: NO_PRIVACY_POLICY,
  };
}

/** Who signs the federation's runs: its requester, in `collaboration`. */
export function federationSigner(federation: Federation, collaboration = LOCAL_COLLABORATION): RunSigner {
  return { keys: federation.requester.keys, collaboration };
}

/** The dependencies of one site's worker in the federation. */
export function siteDepsOf(
  site: FederationSite,
  federation: Federation,
  docker: Docker,
  allowedImages: AllowedImage[],
  directory: KeyDirectory = federation.directory,
  policy: SitePolicy = federationPolicyOf(site, federation),
): SiteDeps {
  return {
    policy,
    org: site.org,
    keys: site.keys,
    docker,
    directory,
    datasets: site.datasets,
    allowedImages,
    stateDir: site.stateDir,
    ledger: createRunLedger(join(site.stateDir, 'runs')),
    ...(site.disclosureThreshold !== undefined ? { disclosureThreshold: site.disclosureThreshold } : {}),
  };
}
