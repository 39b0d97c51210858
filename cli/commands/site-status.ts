/**
 * `parley site status`: is Temporal reachable, does the API answer and who does it say this
 * site is, which keys are pinned, which images are allowed, which Parley containers run here.
 */
import { fingerprint } from '../../crypto/index.ts';
import { loadSiteConfig } from '../../workers/site/config.ts';
import { siteStatus } from '../../workers/site/status.ts';
import { parseVerb } from '../lib/session.ts';
import { CONFIG_OPTION, configPath, type SiteVerb } from '../lib/site-verb.ts';

const usage = [
  'Usage: parley site status [--config FILE] [--json]',
  '',
  'Checks the connections to Temporal and the API, and lists pinned keys, allowed images and this',
  'site\'s running step containers. Exit 1 when Temporal or the API does not answer as it should.',
  '',
  '  --config FILE  the site configuration (default: ./site.yaml)',
  '  --json         print one JSON object',
].join('\n');

export const siteStatusVerb: SiteVerb = {
  verb: 'status',
  summary: 'check Temporal and the API; list pinned keys, allowed images, running steps',
  usage,
  async run(argv, io) {
    const { values } = parseVerb(argv, 'status', [], { ...CONFIG_OPTION, json: { type: 'boolean', default: false } });
    const config = await loadSiteConfig(configPath(values.config));
    const status = await siteStatus(config);
    const healthy = status.temporal.reachable && status.api.site !== undefined;
    if (values.json) {
      io.out(JSON.stringify(status));
      return healthy ? 0 : 1;
    }
    const { temporal, api } = status;
    io.out(`Site "${status.organisation}" (${config.file})`);
    io.out(`  Temporal   ${temporal.address} (${temporal.namespace}): ${temporal.reachable ? 'reachable' : `NOT reachable — ${temporal.error}`}`);
    io.out(`  API        ${api.url}: ${api.site ? `site ${api.site.id} of "${api.site.orgId}" in collaboration ${api.site.collaborationId}` : `${api.reachable ? 'answers, but' : 'NOT reachable —'} ${api.error}`}`);
    const pins = Object.entries(status.pins);
    io.out(`  Pinned keys (${pins.length})`);
    for (const [org, pin] of pins) io.out(`    ${org.padEnd(16)} receive ${fingerprint(pin.receive)}  sign ${fingerprint(pin.sign)}  since ${pin.pinnedAt}`);
    io.out(`  Allowed images (${status.allowedImages.length})`);
    for (const image of status.allowedImages) io.out(`    ${image.name}@${image.digest}`);
    io.out(`  Running steps (${status.containers.length})${status.containersError ? `: Docker did not answer — ${status.containersError}` : ''}`);
    for (const c of status.containers) io.out(`    ${c.id}  run ${c.run}  step ${c.step}  ${c.state} (${c.status})`);
    return healthy ? 0 : 1;
  },
};
