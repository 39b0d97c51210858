/**
 * `parley site budget`: this site's differential-privacy budgets, per dataset, from its
 * privacy-budget ledger (activities/privacy-budget.ts): the budget site.yaml sets, the ε spent
 * by the charges that still count (composed by Rényi DP, so less than their sum), what remains,
 * when the oldest charge renews, and every charge.
 */
import { privacyBudgetDir, privacyFigure as figure, readPrivacyCharges, summariseBudgets, type DatasetSpend } from '../../activities/privacy-budget.ts';
import type { DatasetBudget } from '../../activities/site-policy.ts';
import { loadSiteConfig } from '../../workers/site/config.ts';
import { parseVerb } from '../lib/session.ts';
import { CONFIG_OPTION, configPath, type SiteVerb } from '../lib/site-verb.ts';

const usage = [
  'Usage: parley site budget [--config FILE] [--json]',
  '',
  'Shows, per dataset, the privacy budget site.yaml gives it (ε at δ, and its renewal period), the',
  'ε spent by the charges that still count, what remains, when the oldest charge renews, and each',
  'charge: when, run id, step, and the ε and δ it asked for. A release that would spend more than',
  'remains is refused (ERR_PRIVACY_BUDGET). Charges compose by Rényi DP: k releases of ε spend',
  'less than kε.',
  '',
  '  --config FILE  the site configuration (default: ./site.yaml)',
  '  --json         print one JSON object: { organisation, datasets: { name: { budget?, requirePrivacy,',
  '                 spentEpsilon, delta?, remainingEpsilon?, renewsAt?, charges: [charge…] } } }',
].join('\n');

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/** A renewal period as site.yaml writes it. */
function period(ms: number): string {
  return ms % DAY_MS === 0 ? `${ms / DAY_MS}d` : `${ms / HOUR_MS}h`;
}

function budgetLine(budget: DatasetBudget | undefined): string {
  if (!budget) return 'no budget (charged, never refused)';
  return `budget ε = ${figure(budget.epsilon)} at δ = ${figure(budget.delta)}${budget.renewEveryMs === undefined ? ', never renews' : `, each charge counts for ${period(budget.renewEveryMs)}`}`;
}

export const siteBudgetVerb: SiteVerb = {
  verb: 'budget',
  summary: 'show each dataset\'s privacy budget: spent, remaining, renewal, charges',
  usage,
  async run(argv, io) {
    const { values } = parseVerb(argv, 'budget', [], { ...CONFIG_OPTION, json: { type: 'boolean', default: false } });
    const config = await loadSiteConfig(configPath(values.config));
    const { budgets, requirePrivacy } = config.privacy;
    const summary = summariseBudgets(await readPrivacyCharges(privacyBudgetDir(config.stateDir)), budgets, new Date());
    // Every dataset of the site, charged or not, and any a charge names that site.yaml no longer lists.
    const names = [...new Set([...Object.keys(config.datasets), ...Object.keys(summary)])].sort();
    const datasets = Object.fromEntries(names.map((name): [string, DatasetSpend & { requirePrivacy: boolean }] => [
      name,
      { ...(summary[name] ?? { spentEpsilon: 0, delta: Number.NaN, charges: [] }), requirePrivacy: requirePrivacy.includes(name) },
    ]));

    if (values.json) {
      const plain = Object.fromEntries(Object.entries(datasets).map(([name, d]) => {
        const { delta, charges, ...rest } = d;
        return [name, { ...rest, ...(Number.isNaN(delta) ? {} : { delta }), charges: charges.map(({ org: _org, unitVariance: _variance, ...c }) => c) }];
      }));
      io.out(JSON.stringify({ organisation: config.organisation, datasets: plain }));
      return 0;
    }
    io.out(`Site "${config.organisation}": privacy budgets`);
    if (names.length === 0) io.out('  no datasets');
    for (const [name, d] of Object.entries(datasets)) {
      io.out(`  ${name}: ${budgetLine(d.budget)}${d.requirePrivacy ? '; requires privacy' : ''}`);
      if (d.charges.length === 0) {
        io.out('    nothing charged');
        continue;
      }
      const spent = `spent ε = ${figure(d.spentEpsilon)}${d.budget ? '' : ` at δ = ${figure(d.delta)}`}`;
      const remains = d.remainingEpsilon === undefined ? '' : `, remains ε = ${figure(d.remainingEpsilon)}`;
      io.out(`    ${spent}${remains}${d.renewsAt ? `; the oldest charge that counts renews at ${d.renewsAt}` : ''}`);
      for (const c of d.charges) {
        io.out(`    ${c.at}  run ${c.runId}  step ${c.step}  ε = ${figure(c.epsilon)}  δ = ${figure(c.delta)}${c.counts ? '' : '  (renewed)'}`);
      }
    }
    return 0;
  },
};
