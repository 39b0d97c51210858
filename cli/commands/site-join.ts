/**
 * `parley site join <collaboration>`: the site's operator admits a collaboration in site.yaml —
 * who may request runs in it and which datasets they may read. A site runs nothing for a
 * collaboration its operator did not admit, whatever the central server says.
 */
import { isOrgId } from '../../common/ids.ts';
import { DATASET_NAME } from '../../common/ids.ts';
import { COLLABORATION_ID } from '../../common/run-manifest.ts';
import { admitCollaboration } from '../../workers/site/config-file.ts';
import { UsageError } from '../lib/command.ts';
import { parseVerb } from '../lib/session.ts';
import { CONFIG_OPTION, configPath, type SiteVerb } from '../lib/site-verb.ts';

const usage = [
  'Usage: parley site join <collaboration id> --requesters ORG[,ORG…] --datasets NAME[,NAME…] [--config FILE] [--json]',
  '',
  'Admits the collaboration (its id, as `parley collab list` or the API shows it) at this site: runs',
  'in it requested by one of --requesters may read the --datasets (names under datasets in the',
  'configuration), and nothing else. Runs every site checks against the researcher\'s signed',
  'manifest; this is the site\'s own half of that check. Restart the worker to apply it.',
  '',
  '  --requesters LIST  the organisations that may request runs here, comma-separated',
  '  --datasets LIST    the datasets those runs may read, comma-separated',
  '  --config FILE      the site configuration (default: ./site.yaml)',
  '  --json             print one JSON line: {collaboration, requesters, datasets, replaced}',
].join('\n');

function list(text: string | undefined, option: string, valid: (s: string) => boolean, what: string): string[] {
  if (text === undefined) throw new UsageError(`--${option} is required.`);
  const items = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (items.length === 0) throw new UsageError(`--${option} needs at least one ${what}.`);
  const bad = items.find((s) => !valid(s));
  if (bad !== undefined) throw new UsageError(`--${option}: "${bad}" is not ${what}.`);
  return [...new Set(items)];
}

export const siteJoin: SiteVerb = {
  verb: 'join',
  summary: 'admit a collaboration here: who may request runs, which datasets they read',
  usage,
  async run(argv, io) {
    const { values, args } = parseVerb(argv, 'join', ['collaboration'], {
      ...CONFIG_OPTION, requesters: { type: 'string' }, datasets: { type: 'string' }, json: { type: 'boolean', default: false },
    });
    const collaboration = args[0]!;
    if (!COLLABORATION_ID.test(collaboration)) throw new UsageError(`"${collaboration}" is not a collaboration id (letters, digits, ".", "_", "-").`);
    const requesters = list(values.requesters, 'requesters', isOrgId, 'an organisation id');
    const datasets = list(values.datasets, 'datasets', (s) => DATASET_NAME.test(s), 'a dataset name');
    const file = configPath(values.config);
    const outcome = await admitCollaboration(file, collaboration, { requesters, datasets });
    if (values.json) {
      io.out(JSON.stringify({ collaboration, requesters, datasets, replaced: outcome === 'replaced' }));
      return 0;
    }
    io.out(`${outcome === 'replaced' ? 'Updated' : 'Admitted'} collaboration ${collaboration} in ${file}: runs requested by ${requesters.join(', ')} may read ${datasets.join(', ')}.`);
    io.out('Restart the site worker (parley site start) for it to take effect.');
    return 0;
  },
};
