/**
 * `parley site trust <org>`: shows the key fingerprints this site pinned for an organisation and
 * the ones the API publishes now, and on the operator's word pins the published ones. The check
 * with the other organisation (out of band) is the operator's: a server that swapped keys would
 * otherwise read or forge what sites send each other.
 */
import { createInterface } from 'node:readline/promises';
import { ApiClientError, createApiClient } from '../../activities/api-client.ts';
import { acceptKeys, readPins } from '../../activities/pinned-key-directory.ts';
import { ErrorCode, ParleyError } from '../../common/errors.ts';
import { isOrgId } from '../../common/ids.ts';
import { fingerprint, jwkThumbprint, parseOrgPublicKeys } from '../../crypto/index.ts';
import { loadSiteConfig } from '../../workers/site/config.ts';
import { pinFileOf, readSiteCredential } from '../../workers/site/process.ts';
import { UsageError } from '../lib/command.ts';
import { apiFailure, parseVerb } from '../lib/session.ts';
import { CONFIG_OPTION, configPath, type SiteVerb } from '../lib/site-verb.ts';

const usage = [
  'Usage: parley site trust <org> [--config FILE] [--yes] [--json]',
  '',
  'Shows the key fingerprints this site pinned for <org> and those the API publishes now. When they',
  'differ, confirm the new ones with <org> out of band, then accept them: with --yes, or by',
  'answering y when asked (on a terminal). The worker picks the new pin up within a minute.',
  '',
  '  --config FILE  the site configuration (default: ./site.yaml)',
  '  --yes          accept the published keys without asking',
  '  --json         print one JSON line: {org, state, pinned, published, accepted}',
].join('\n');

async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}

export const siteTrust: SiteVerb = {
  verb: 'trust',
  summary: 'show an organisation\'s pinned and published key fingerprints; accept a change',
  usage,
  async run(argv, io) {
    const { values, args } = parseVerb(argv, 'trust', ['org'], { ...CONFIG_OPTION, yes: { type: 'boolean', default: false }, json: { type: 'boolean', default: false } });
    const org = args[0]!;
    if (!isOrgId(org)) throw new UsageError(`"${org}" is not an organisation id (a lowercase slug).`);
    const config = await loadSiteConfig(configPath(values.config));
    const api = createApiClient(config.api.url, await readSiteCredential(config));
    let published;
    try {
      published = parseOrgPublicKeys(await api.organisationKeys(org));
    } catch (err) {
      if (!(err instanceof ApiClientError)) throw err;
      throw apiFailure(err, `Fetching ${org}'s published keys`, err.status === 404 ? `Check the id; "${org}" may not have published keys yet.` : '');
    }
    // The server's thumbprints are not trusted: recompute them from the keys themselves.
    for (const use of ['receive', 'sign'] as const) {
      if ((await jwkThumbprint(published[use].jwk)) !== published[use].thumbprint || published.org !== org) {
        throw new ParleyError(ErrorCode.KeyInvalid, `The API's ${use} key for "${org}" does not match its thumbprint. Not accepting it; tell the server admin.`, { org });
      }
    }
    const pinFile = pinFileOf(config);
    const pin = (await readPins(pinFile))[org];
    const now = { receive: published.receive.thumbprint, sign: published.sign.thumbprint };
    const state = pin === undefined ? 'unpinned' : pin.receive === now.receive && pin.sign === now.sign ? 'unchanged' : 'changed';
    const show = (t: string | undefined) => (t === undefined ? '(none)' : fingerprint(t));
    if (!values.json) {
      io.out(`Keys of "${org}": ${state === 'unchanged' ? 'unchanged' : state === 'unpinned' ? 'not pinned yet' : 'CHANGED'}`);
      for (const use of ['receive', 'sign'] as const) {
        const differs = pin !== undefined && pin[use] !== now[use];
        io.out(`  ${use.padEnd(7)}  pinned ${show(pin?.[use])}  published ${fingerprint(now[use])}${differs ? '  <- changed' : ''}`);
      }
    }
    let accepted = false;
    if (state !== 'unchanged') {
      accepted = values.yes || (process.stdin.isTTY === true && !values.json && (await confirm(`Accept ${org}'s published keys? Only after checking them with ${org}. [y/N] `)));
      if (accepted) await acceptKeys(pinFile, published);
    }
    if (values.json) {
      io.out(JSON.stringify({ org, state, pinned: pin ? { receive: pin.receive, sign: pin.sign } : null, published: now, accepted }));
    } else if (accepted) {
      io.out(`Accepted: ${org}'s keys are pinned in ${pinFile}.`);
    } else if (state !== 'unchanged') {
      io.out(`Not accepted. Once ${org} has confirmed these fingerprints out of band: parley site trust ${org} --yes`);
    }
    return state === 'unchanged' || accepted ? 0 : 1;
  },
};
