/**
 * Writing the site configuration: the commented file `parley site init` starts from, and edits
 * that keep the operator's comments (the `yaml` Document API round-trips them).
 */
import { randomBytes } from 'node:crypto';
import { chmod, link, open, readFile, rename, rm } from 'node:fs/promises';
import { isMap, isSeq, parseDocument } from 'yaml';
import { ErrorCode, ParleyError } from '../../common/errors.ts';
import { ImageRole, type AllowedImage } from '../../activities/site-policy.ts';
import { parseSiteConfig } from './config.ts';

export interface SiteConfigTemplate {
  organisation: string;
  apiUrl: string;
  temporalAddress: string;
  /** Where the private keys go; default keys/<org>.keys.json beside the file. */
  keyFile?: string;
}

/** The commented configuration `parley site init` writes; paths are relative to the file. */
export function renderSiteConfig(t: SiteConfigTemplate): string {
  return `# Parley site worker configuration for organisation "${t.organisation}".
# Read by \`parley site start\`; relative paths are relative to this file's directory.
# No secrets belong here: the private keys and the site credential each live in their own
# file (mode 0600), which this file only names.

# Your organisation's id on the Parley server.
organisation: ${t.organisation}

# The organisation's private keys (written by \`parley site init\`, mode 0600). Back it up
# somewhere safe: losing it means publishing new keys, which every other site must accept.
keyFile: ${t.keyFile ?? `keys/${t.organisation}.keys.json`}

# This worker's private state: pinned key fingerprints of other organisations, the run
# ledger (replay protection) and step workspaces. Only this worker may use it.
stateDir: state

# The Temporal cluster that carries the runs.
temporal:
  # Its frontend, host:port.
  address: ${t.temporalAddress}
  namespace: default
  # For a cluster reached over TLS, uncomment; certFile and keyFile together give mTLS.
  # tls:
  #   caFile: tls/ca.pem           # CA of the server's certificate (omit for a public CA)
  #   certFile: tls/client.pem     # this site's client certificate (mTLS)
  #   keyFile: tls/client.key      # its private key (mTLS)
  #   serverName: temporal.example.org   # when the certificate's name differs from the address
  # For a hosted cluster that takes an API key: a file holding it, mode 0600.
  # apiKeyFile: temporal-api-key

# The central Parley API: where other organisations' public keys are fetched.
api:
  url: ${t.apiUrl}
  # The file (mode 0600) holding the credential \`parley site register\` printed for this site.
  credentialFile: site-credential

# Datasets this site offers, by name; a step that asks for one sees it read-only at
# /data/<name>. The worker checks each exists and is readable before it starts.
datasets: {}
#  registry: /srv/data/registry.csv
#  A dataset may also carry a differential-privacy budget: every release that touches it is
#  charged, and a step that would spend more than epsilon (at this delta) is refused. With
#  renewEvery ("12h", "30d", "13w"), a charge stops counting that long after it was made.
#  requirePrivacy: true admits only releases that carry differential privacy.
#  visits:
#    path: /srv/data/visits.csv
#    budget: { epsilon: 3, delta: 1e-6, renewEvery: 90d }
#    requirePrivacy: true

# Algorithm images allowed to run here, by name AND digest (a tag can move, a digest cannot),
# each for one role: "protocol" (a secure sum's steps: parley/secure-sum, parley/additive-sum)
# or "analysis" (a chain's own steps, e.g. parley/preprocess, parley/analyse). An analysis
# image's own output leaves this site only with "release: true"; otherwise only secure-sum
# totals do. Add one with \`parley site allow <image> --role protocol|analysis [--release]\`,
# which pins the digest of the local image.
allowedImages: []
# The collaborations this site takes part in (ids as the API shows them), who may request
# runs in each, and which of the datasets above each may read. Runs of any other
# collaboration or requester are refused before anything runs.
collaborations: {}
#  3f0c…-collaboration-id:
#    requesters: [lab]
#    datasets: [registry]
# A secure sum this site contributes to must span at least minSites sites, over a public
# modulus of at least minModulus.
secureSum:
  minSites: 3
  minModulus: "2^64"

# Limits of each step's container.
limits:
  memoryMb: 512
  cpus: 1
  pids: 128
  # The longest a step may run here, whatever the run asks for.
  stepTimeoutSeconds: 600
  # What one step may send to other sites: bytes of messages in all (default 1 GiB, also the
  # largest one message) and messages (default 10000). Past either, the step fails, naming it.
  # stepSendBytes: 1073741824
  # stepMessages: 10000

# The smallest count a result may disclose about this site's data.
disclosureThreshold: 10

# Steps this site runs at once (about one per core).
maxConcurrentSteps: 2

# On SIGTERM/SIGINT the worker stops taking steps and lets running ones finish for this many
# seconds, then cancels them (their containers are killed and removed).
shutdownGraceSeconds: 30
`;
}

/** Writes `text` to `file` atomically, never over an existing file unless `replace`. */
export async function writeConfigText(file: string, text: string, options: { replace: boolean }): Promise<void> {
  const staging = `${file}.${randomBytes(4).toString('hex')}.tmp`;
  const handle = await open(staging, 'wx', 0o600);
  try {
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    if (!options.replace) {
      // link() fails when the target exists: no window in which another writer is overwritten.
      await link(staging, file);
      await rm(staging);
    } else {
      await rename(staging, file);
    }
    await chmod(file, 0o600);
  } catch (err) {
    await rm(staging, { force: true });
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new ParleyError(ErrorCode.InvalidInput, `${file} already exists; Parley does not overwrite a site configuration. Move it away first, or use another --dir.`, { path: file });
    }
    throw err;
  }
}

/**
 * Adds `image` (name and digest) to the configuration's allowedImages, keeping every comment.
 * Returns 'unchanged' when that exact pair is already there. @throws ParleyError InvalidInput when the file does not validate.
 */
export async function addAllowedImage(file: string, image: AllowedImage): Promise<'added' | 'unchanged'> {
  const text = await readFile(file, 'utf8');
  const doc = parseDocument(text);
  parseSiteConfig(doc.toJS(), file);
  let list = doc.get('allowedImages');
  if (!isSeq(list)) {
    doc.set('allowedImages', doc.createNode([]));
    list = doc.get('allowedImages');
  }
  if (!isSeq(list)) throw new TypeError('allowedImages is not a sequence');
  // A flow sequence (`[]`, as init writes it) would stay on one line; a block list reads better.
  list.flow = false;
  // Name and digest together: another digest under the same name is another version, added beside it.
  const same = (item: unknown) => isMap(item) && item.get('name') === image.name && item.get('digest') === image.digest && (item.get('role') ?? ImageRole.Analysis) === image.role;
  const existing = list.items.find(same);
  if (existing && isMap(existing)) {
    if ((existing.get('release') === true) === (image.release === true)) return 'unchanged';
    if (image.release) existing.set('release', true);
    else existing.delete('release');
  } else {
    list.add(doc.createNode({ name: image.name, digest: image.digest, role: image.role, ...(image.release ? { release: true } : {}) }));
  }
  await writeConfigText(file, doc.toString(), { replace: true });
  return 'added';
}

/**
 * Admits `collaboration` in the configuration: runs in it that `requesters` ask for, reading
 * `datasets` (each must be one of the site's datasets). Replaces an earlier entry for it; keeps
 * every comment. @throws ParleyError InvalidInput when the file or the entry does not validate.
 */
export async function admitCollaboration(file: string, collaboration: string, policy: { requesters: string[]; datasets: string[] }): Promise<'added' | 'replaced'> {
  const text = await readFile(file, 'utf8');
  const doc = parseDocument(text);
  const config = parseSiteConfig(doc.toJS(), file);
  const unknown = policy.datasets.filter((d) => !(d in config.datasets));
  if (unknown.length > 0) {
    throw new ParleyError(ErrorCode.InvalidInput, `Dataset${unknown.length > 1 ? 's' : ''} ${unknown.map((d) => `"${d}"`).join(', ')} ${unknown.length > 1 ? 'are' : 'is'} not among this site's datasets (${Object.keys(config.datasets).join(', ') || 'none'}). Add ${unknown.length > 1 ? 'them' : 'it'} under datasets in ${file} first.`, { path: file });
  }
  const replaced = collaboration in config.collaborations;
  let map = doc.get('collaborations');
  if (!isMap(map)) {
    doc.set('collaborations', doc.createNode({}));
    map = doc.get('collaborations');
  }
  if (!isMap(map)) throw new TypeError('collaborations is not a mapping');
  map.flow = false;
  map.set(collaboration, doc.createNode({ requesters: policy.requesters, datasets: policy.datasets }));
  // Validated as a whole before it is written: a bad id or name changes nothing.
  parseSiteConfig(doc.toJS(), file);
  await writeConfigText(file, doc.toString(), { replace: true });
  return replaced ? 'replaced' : 'added';
}
