/**
 * `parley site releases`: what this site has released, per dataset, from its release ledger
 * (activities/release-ledger.ts): when, in which run and step, how many rows, and a keyed hash of
 * the row set (equal hashes, equal cohorts). The rows themselves are not in the ledger.
 */
import { readReleases, releaseLedgerDir, type ReleaseRecord } from '../../activities/release-ledger.ts';
import { loadSiteConfig } from '../../workers/site/config.ts';
import { parseVerb } from '../lib/session.ts';
import { CONFIG_OPTION, configPath, type SiteVerb } from '../lib/site-verb.ts';

const usage = [
  'Usage: parley site releases [--config FILE] [--json]',
  '',
  'Lists the cohorts this site has released, per dataset, from its release ledger: when, run id,',
  'step, cohort size and a hash of the row set. A new cohort that differs from one of these by',
  'fewer rows than the disclosure threshold is refused (ERR_DISCLOSURE_DIFFERENCE).',
  '',
  '  --config FILE  the site configuration (default: ./site.yaml)',
  '  --json         print one JSON object: { organisation, threshold, datasets: { name: [release…] } }',
].join('\n');

/** The characters of a set hash shown to people: enough to tell cohorts apart at a glance. */
const SHORT_HASH = 16;

export const siteReleasesVerb: SiteVerb = {
  verb: 'releases',
  summary: 'list the cohorts this site has released, per dataset (its release ledger)',
  usage,
  async run(argv, io) {
    const { values } = parseVerb(argv, 'releases', [], { ...CONFIG_OPTION, json: { type: 'boolean', default: false } });
    const config = await loadSiteConfig(configPath(values.config));
    const records = await readReleases(releaseLedgerDir(config.stateDir));
    const byDataset = new Map<string, Array<Omit<ReleaseRecord, 'rows' | 'dataset'>>>();
    for (const { rows: _rows, dataset, ...release } of records) {
      byDataset.set(dataset, [...(byDataset.get(dataset) ?? []), release]);
    }
    if (values.json) {
      io.out(JSON.stringify({ organisation: config.organisation, threshold: config.disclosureThreshold, datasets: Object.fromEntries(byDataset) }));
      return 0;
    }
    io.out(`Site "${config.organisation}": releases (disclosure threshold ${config.disclosureThreshold})`);
    if (byDataset.size === 0) io.out('  none yet');
    for (const [dataset, releases] of byDataset) {
      io.out(`  ${dataset} (${releases.length})`);
      for (const r of releases) io.out(`    ${r.at}  run ${r.runId}  step ${r.step}  ${r.size} rows  set ${r.setHash.slice(0, SHORT_HASH)}`);
    }
    return 0;
  },
};
