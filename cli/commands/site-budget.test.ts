/**
 * `parley site budget` as an operator reads it: each dataset's budget from site.yaml, what its
 * charges (in the site's real ledger) have spent and left, when the oldest renews, and every
 * charge; `--json` for scripts; a ledger it cannot read is an error that says to restore it.
 */
import { appendFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPrivacyBudget, privacyBudgetDir } from '../../activities/privacy-budget.ts';
import { calibrateSkellam, composeRdp, rdpToDp, skellamRdp, UNIT_SENSITIVITY } from '../../common/privacy/rdp.ts';
import { loadSiteConfig } from '../../workers/site/config.ts';
import { renderSiteConfig } from '../../workers/site/config-file.ts';
import { parley } from '../../test/support/parley-cli.ts';

const DAY = 24 * 3_600_000;
let root: string;
let file: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'parley-site-budget-'));
  file = join(root, 'site.yaml');
  const document = parse(renderSiteConfig({ organisation: 'north', apiUrl: 'https://parley.example.org', temporalAddress: '127.0.0.1:7233' })) as Record<string, unknown>;
  document.datasets = {
    visits: { path: 'visits.csv', budget: { epsilon: 3, delta: 1e-6, renewEvery: '30d' }, requirePrivacy: true },
    labs: { path: 'labs.csv', budget: { epsilon: 1, delta: 1e-7 } },
    registry: 'registry.csv',
  };
  await writeFile(file, stringify(document));
});
afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

const budget = (args: string[] = []) => parley(['site', 'budget', '--config', file, ...args]);

describe('parley site budget', () => {
  it('lists every dataset with nothing charged before the first release', async () => {
    const ran = await budget();
    expect(ran.code, ran.stderr).toBe(0);
    expect(ran.stdout).toBe([
      'Site "north": privacy budgets',
      '  labs: budget ε = 1 at δ = 1e-7, never renews',
      '    nothing charged',
      '  registry: no budget (charged, never refused)',
      '    nothing charged',
      '  visits: budget ε = 3 at δ = 1e-6, each charge counts for 30d; requires privacy',
      '    nothing charged',
      '',
    ].join('\n'));
  });

  it('shows what the charges spent, what remains, when the oldest renews, and each charge', async () => {
    const config = await loadSiteConfig(file);
    // Two charges 40 days ago (renewed since), three 10, 5 and 1 day ago: the ledger the worker keeps.
    const now = Date.now();
    let at = now - 40 * DAY;
    const ledger = openPrivacyBudget(privacyBudgetDir(config.stateDir), config.privacy.budgets, () => new Date(at));
    const unitVariance = calibrateSkellam({ epsilon: 1, delta: 1e-6 });
    const charge = (runId: string, datasets: string[]) => ledger.charge({ runId, step: 'sum', org: 'north', datasets, epsilon: 1, delta: 1e-6, unitVariance });
    await charge('run-1', ['visits', 'registry']);
    await charge('run-2', ['visits']);
    for (const [runId, daysAgo] of [['run-3', 10], ['run-4', 5], ['run-5', 1]] as const) {
      at = now - daysAgo * DAY;
      await charge(runId, ['visits']);
    }
    const when = (daysAgo: number) => new Date(now - daysAgo * DAY).toISOString();
    const three = rdpToDp(composeRdp([1, 2, 3].map(() => skellamRdp(unitVariance, UNIT_SENSITIVITY))), 1e-6).epsilon;

    const ran = await budget();
    expect(ran.code, ran.stderr).toBe(0);
    const lines = ran.stdout.trimEnd().split('\n');
    expect(lines.slice(6)).toEqual([
      '  visits: budget ε = 3 at δ = 1e-6, each charge counts for 30d; requires privacy',
      `    spent ε = ${Number(three.toPrecision(3))}, remains ε = ${Number((3 - three).toPrecision(3))}; the oldest charge that counts renews at ${when(10 - 30)}`,
      `    ${when(40)}  run run-1  step sum  ε = 1  δ = 1e-6  (renewed)`,
      `    ${when(40)}  run run-2  step sum  ε = 1  δ = 1e-6  (renewed)`,
      `    ${when(10)}  run run-3  step sum  ε = 1  δ = 1e-6`,
      `    ${when(5)}  run run-4  step sum  ε = 1  δ = 1e-6`,
      `    ${when(1)}  run run-5  step sum  ε = 1  δ = 1e-6`,
    ]);
    // A dataset without a budget shows its spend at the δ its charges asked for; it never renews.
    expect(lines.slice(3, 6)).toEqual([
      '  registry: no budget (charged, never refused)',
      '    spent ε = 1 at δ = 1e-6',
      `    ${when(40)}  run run-1  step sum  ε = 1  δ = 1e-6`,
    ]);

    const json = await budget(['--json']);
    expect(json.code, json.stderr).toBe(0);
    const shown = JSON.parse(json.stdout) as { organisation: string; datasets: Record<string, Record<string, unknown>> };
    expect(shown.organisation).toBe('north');
    expect(shown.datasets.visits).toMatchObject({
      budget: { epsilon: 3, delta: 1e-6, renewEveryMs: 30 * DAY },
      requirePrivacy: true,
      spentEpsilon: three,
      remainingEpsilon: 3 - three,
      delta: 1e-6,
      renewsAt: when(-20),
    });
    expect((shown.datasets.visits!.charges as Array<{ runId: string; counts: boolean }>).map((c) => [c.runId, c.counts])).toEqual([
      ['run-1', false], ['run-2', false], ['run-3', true], ['run-4', true], ['run-5', true],
    ]);
    expect(shown.datasets.labs).toEqual({ budget: { epsilon: 1, delta: 1e-7 }, requirePrivacy: false, spentEpsilon: 0, remainingEpsilon: 1, delta: 1e-7, charges: [] });
    expect(shown.datasets.registry).toMatchObject({ requirePrivacy: false, delta: 1e-6, charges: [{ runId: 'run-1', step: 'sum', datasets: ['visits', 'registry'], epsilon: 1, delta: 1e-6 }] });
  });

  it('fails on a ledger it cannot read, saying to restore it', async () => {
    const config = await loadSiteConfig(file);
    const dir = privacyBudgetDir(config.stateDir);
    await mkdir(dir, { recursive: true });
    await appendFile(join(dir, 'budget.jsonl'), 'not a charge\n{}\n');
    const ran = await budget();
    expect(ran.code).toBe(1);
    expect(ran.stderr).toMatch(/budget\.jsonl has an unreadable line 6\. .*restore the file from a backup\./);
  });
});
