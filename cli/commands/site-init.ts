/**
 * `parley site init`: sets up a site on the operator's machine — a commented configuration file,
 * the organisation's key pair (0600) — and publishes the public keys with the API as the
 * organisation's site operator. Never overwrites a configuration or a key file.
 */
import { mkdir, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import { ApiClientError } from '../../activities/api-client.ts';
import { writeKeyFile } from '../../activities/key-file.ts';
import { ErrorCode, ParleyError } from '../../common/errors.ts';
import { isOrgId } from '../../common/ids.ts';
import { fingerprint, generateOrgKeys, publicKeysOf } from '../../crypto/index.ts';
import { parseSiteConfig } from '../../workers/site/config.ts';
import { renderSiteConfig, writeConfigText } from '../../workers/site/config-file.ts';
import { UsageError } from '../lib/command.ts';
import { API_OPTIONS, apiFailure, apiUrl, openSession, parseVerb, required } from '../lib/session.ts';
import type { SiteVerb } from '../lib/site-verb.ts';

const usage = [
  'Usage: parley site init --org ORG --api URL [--dir DIR] [--temporal HOST:PORT] [--key-file FILE] [--json]',
  '',
  'Sets up this machine as ORG\'s site: writes DIR/site.yaml (commented: every key explained),',
  'generates the organisation\'s key pair in DIR/keys/ORG.keys.json (mode 0600) and publishes its',
  'public keys with the API. Needs a login (parley login) as a site operator of ORG.',
  '',
  '  --org ORG             your organisation\'s id on the server',
  '  --api URL             the Parley API (the server you are logged in to)',
  '  --dir DIR             where to put the site (default: ./parley-site-ORG)',
  '  --temporal HOST:PORT  the Temporal frontend (default: 127.0.0.1:7233)',
  '  --key-file FILE       where the private keys go (default: DIR/keys/ORG.keys.json); e.g. a volume',
  '                        of their own in a container deployment',
  '  --json                print one JSON line: {config, keyFile, keys}',
].join('\n');

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

export const siteInit: SiteVerb = {
  verb: 'init',
  summary: 'write a commented site configuration, generate and publish the organisation\'s keys',
  usage,
  async run(argv, io) {
    const { values } = parseVerb(argv, 'init', [], { ...API_OPTIONS, org: { type: 'string' }, dir: { type: 'string' }, temporal: { type: 'string' }, 'key-file': { type: 'string' } });
    const org = required(values.org, '--org');
    if (!isOrgId(org)) throw new UsageError(`--org "${org}" is not an organisation id (a lowercase slug).`);
    const api = apiUrl(required(values.api, '--api'));
    const temporal = values.temporal ?? '127.0.0.1:7233';
    const dir = resolve(values.dir ?? `parley-site-${org}`);
    const configFile = join(dir, 'site.yaml');
    if (values['key-file'] === '') throw new UsageError('--key-file must not be empty.');
    const keyFile = values['key-file'] === undefined ? undefined : resolve(values['key-file']);
    const text = renderSiteConfig({ organisation: org, apiUrl: api, temporalAddress: temporal, ...(keyFile ? { keyFile } : {}) });
    // The template must pass the loader's own validation, --temporal included.
    let config;
    try {
      config = parseSiteConfig(parse(text), configFile);
    } catch (err) {
      throw new UsageError(`the configuration would not be valid: ${(err as Error).message}`);
    }
    for (const path of [configFile, config.keyFile]) {
      if (await exists(path)) {
        throw new ParleyError(ErrorCode.InvalidInput, `${path} already exists; \`parley site init\` never overwrites a site's configuration or keys. Use another --dir, or move it away if you mean to start over.`, { path });
      }
    }

    const session = await openSession(io, api);
    const { login } = session;
    if (login.orgId !== org || login.role !== 'site_operator') {
      throw new ParleyError(
        ErrorCode.Forbidden,
        `You are logged in as ${login.username}, ${login.role} of "${login.orgId}"; publishing "${org}"'s keys takes a site operator of "${org}". ` +
          `Ask the server admin to create the organisation (parley org create ${org} …) and a site operator for it (parley user create NAME --org ${org} --role site_operator), then log in as that user.`,
        { org },
      );
    }

    // Keys published before (with the organisation, or by an earlier init) are replaced: say so,
    // since every other site then refuses them until its operator accepts the new ones.
    const earlier = await session.client.organisationKeys(org).catch(() => undefined);
    const keys = await generateOrgKeys(org);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await writeKeyFile(config.keyFile, keys);
    try {
      await session.client.publishKeys(org, publicKeysOf(keys));
    } catch (err) {
      // Never published, so nobody can have sealed anything for it: safe to remove.
      await rm(config.keyFile, { force: true });
      if (!(err instanceof ApiClientError)) throw err;
      const hint = err.status === 404
        ? `Organisation "${org}" does not exist on ${api} yet: ask the server admin to create it (parley org create ${org} --name …), then run this again.`
        : err.status === 403 ? `Only a site operator of "${org}" may publish its keys.` : '';
      throw apiFailure(err, `Publishing ${org}'s public keys`, hint);
    }
    await writeConfigText(configFile, text, { replace: false });
    await mkdir(config.stateDir, { recursive: true, mode: 0o700 });

    const printed = { receive: fingerprint(keys.receive.publicJwk.kid), sign: fingerprint(keys.sign.publicJwk.kid) };
    if (values.json) {
      io.out(JSON.stringify({ config: configFile, keyFile: config.keyFile, credentialFile: config.api.credentialFile, keys: { receive: keys.receive.publicJwk.kid, sign: keys.sign.publicJwk.kid }, replacedKeys: earlier !== undefined }));
      return 0;
    }
    io.out(`Site "${org}" set up in ${dir}:`);
    io.out(`  configuration  ${configFile}`);
    io.out(`  private keys   ${config.keyFile} (mode 0600; back it up, never share it)`);
    io.out(`  published      receive ${printed.receive}, sign ${printed.sign}`);
    io.out('  (other operators may check these fingerprints with you out of band)');
    if (earlier !== undefined) {
      io.out(`  replaced       the keys published before (sign ${fingerprint(earlier.sign.thumbprint)}): other sites must`);
      io.out(`                 accept the new ones (parley site trust ${org}) once you have confirmed them.`);
    }
    io.out('');
    io.out('Next:');
    io.out(`  1. Register the site in a collaboration; it prints the worker's credential once:`);
    io.out(`       parley site register --collab COLLAB --org ${org} --config ${configFile}`);
    io.out(`  2. Store that credential in ${config.api.credentialFile}, readable by you only:`);
    io.out(`       (umask 077; cat > ${config.api.credentialFile})   # paste, then Ctrl-D`);
    io.out(`  3. Add your datasets to ${configFile}, and allow the algorithm images you accept:`);
    io.out(`       parley site allow IMAGE --config ${configFile}`);
    io.out(`  4. Start the worker:  parley site start --config ${configFile}`);
    return 0;
  },
};
