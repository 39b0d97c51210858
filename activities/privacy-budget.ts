/**
 * The site's privacy-budget ledger: every differentially private release that touches one of the
 * site's datasets is charged here, by the site that holds the data, and a release that would
 * take a dataset's spend above the budget its operator set in site.yaml is refused
 * (ERR_PRIVACY_BUDGET) before anything leaves the site.
 *
 * Accounting is Rényi DP (Mironov, "Rényi Differential Privacy", CSF 2017), with the curves,
 * composition and conversion of common/privacy/rdp.ts: each release is a Skellam mechanism of
 * variance `unitVariance` per unit of sensitivity (Agarwal, Kairouz, Liu, NeurIPS 2021,
 * Theorem 3.5), its curve skellamRdp(unitVariance, UNIT_SENSITIVITY); a dataset's spend is the
 * (ε, δ) conversion, at its budget's δ (Balle et al., AISTATS 2020, Theorem 21), of the sum of
 * the curves of its charges that still count. Composing curves is tighter than adding the ε's
 * the steps asked for: k releases of ε spend well under kε.
 *
 * With `renewEveryMs`, a charge stops counting that long after it was made: a sliding window, so
 * a budget never refills all at once for a burst of queries.
 *
 * The ledger is JSON lines in `<stateDir>/privacy/budget.jsonl` (activities/append-only-file.ts):
 * one line per charge holding all its datasets, so a crash charges all of them or none; appended
 * and fsynced before charge() returns. A torn last line is ignored (its charge never completed),
 * any other unreadable line stops every charge until the operator restores the file, since the
 * site can no longer tell what it has spent. Charges are idempotent per (run, step): a step
 * retried after a crash is charged once.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCode, ParleyError } from '../common/errors.ts';
import type { OrgId } from '../common/ids.ts';
import { composeRdp, rdpToDp, skellamRdp, UNIT_SENSITIVITY, type RdpCurve } from '../common/privacy/rdp.ts';
import { appendLine, readRecords } from './append-only-file.ts';
import type { DatasetBudget } from './site-policy.ts';

/** One release to charge: where it happens, what it reads, what it asked for and the noise it carries. */
export interface PrivacyCharge {
  runId: string;
  /** The chain step id of the release. */
  step: string;
  /** The site charging it: named in a refusal. */
  org: OrgId;
  /** Every dataset of this site the release touches; each is charged in full. */
  datasets: string[];
  /** The ε and δ the step asked for, as the researcher set them (shown; the curve is what counts). */
  epsilon: number;
  delta: number;
  /** The Skellam variance of the release per unit of sensitivity: its RDP curve is skellamRdp(unitVariance, UNIT_SENSITIVITY). */
  unitVariance: number;
}

/** A charge as the ledger keeps it. */
export interface PrivacyChargeRecord extends PrivacyCharge {
  /** When it was charged, ISO 8601. */
  at: string;
}

export interface PrivacyBudget {
  /**
   * Whether all of `charges`, together and on top of what the ledger holds, fit every budget.
   * Records nothing; a charge whose (run, step) is already in the ledger counts once.
   * @throws ParleyError PrivacyBudget naming the first dataset they would overspend;
   *   InvalidInput when the ledger file is unreadable.
   */
  check(charges: readonly PrivacyCharge[]): Promise<void>;
  /**
   * Charges one release to each of its datasets, durably, if it fits their budgets. Serialised:
   * two steps of one site never both spend the last of a budget. A second charge of the same
   * (run, step) is not recorded again: `charged: false`.
   * @throws ParleyError PrivacyBudget when it would overspend a dataset's budget (nothing is
   *   recorded); InvalidInput when the ledger file is unreadable.
   */
  charge(charge: PrivacyCharge): Promise<{ charged: boolean }>;
}

/** Per dataset, what `parley site budget` shows. */
export interface DatasetSpend {
  budget?: DatasetBudget;
  /** The ε spent by the charges that still count, at `delta`. */
  spentEpsilon: number;
  /** The δ `spentEpsilon` is stated at: the budget's, else the smallest any charge asked for. */
  delta: number;
  /** The budget's ε less what is spent; only with a budget. */
  remainingEpsilon?: number;
  /** Every charge of the dataset, oldest first; `counts` false once it has renewed. */
  charges: Array<PrivacyChargeRecord & { counts: boolean }>;
  /** When the oldest charge that counts stops counting (ISO 8601); only with renewEvery. */
  renewsAt?: string;
}

const LEDGER_FILE = 'budget.jsonl';

/** The directory of a site's privacy-budget ledger inside its state directory. */
export function privacyBudgetDir(stateDir: string): string {
  return join(stateDir, 'privacy');
}

/**
 * Opens (creating on first use) the privacy-budget ledger kept in `dir`, enforcing `budgets`
 * (dataset → budget; from SitePolicy.privacy.budgets). `now` is the clock renewals follow.
 */
export function openPrivacyBudget(dir: string, budgets: Readonly<Record<string, DatasetBudget>>, now: () => Date = () => new Date()): PrivacyBudget {
  let queue: Promise<unknown> = Promise.resolve();
  let loaded: Promise<PrivacyChargeRecord[]> | undefined;
  // Reread after a failure: the operator may have restored the file since.
  const load = () => (loaded ??= readPrivacyCharges(dir).catch((err: unknown) => {
    loaded = undefined;
    throw err;
  }));
  const serialised = <T>(task: () => Promise<T>): Promise<T> => {
    const next = queue.then(task, task);
    queue = next.catch(() => undefined);
    return next;
  };

  return {
    check(charges) {
      charges.forEach(assertCharge);
      return serialised(async () => {
        const records = await load();
        const keys = new Set(records.map(keyOf));
        const fresh = charges.filter((c) => {
          const key = keyOf(c);
          if (keys.has(key)) return false;
          keys.add(key);
          return true;
        });
        assertFits(records, fresh, budgets, now());
      });
    },
    charge(charge) {
      assertCharge(charge);
      return serialised(async () => {
        const records = await load();
        const key = keyOf(charge);
        if (records.some((r) => keyOf(r) === key)) return { charged: false };
        const at = now();
        assertFits(records, [charge], budgets, at);
        const record: PrivacyChargeRecord = {
          at: at.toISOString(),
          runId: charge.runId,
          step: charge.step,
          org: charge.org,
          datasets: [...new Set(charge.datasets)],
          epsilon: charge.epsilon,
          delta: charge.delta,
          unitVariance: charge.unitVariance,
        };
        try {
          await mkdir(dir, { recursive: true, mode: 0o700 });
          await appendLine(join(dir, LEDGER_FILE), JSON.stringify(record));
        } catch (err) {
          // The line may be on disk even so (written, then fsync failed): reread before the next
          // charge rather than charge this (run, step) a second time on a retry.
          loaded = undefined;
          throw err;
        }
        records.push(record);
        return { charged: true };
      });
    },
  };
}

/**
 * The ledger's charges in the order they were made; none when there is no ledger yet.
 * @throws ParleyError InvalidInput when a line other than a torn last one is not a charge.
 */
export async function readPrivacyCharges(dir: string): Promise<PrivacyChargeRecord[]> {
  return readRecords(join(dir, LEDGER_FILE), 'privacy-budget ledger', 'The site charges (and so releases) nothing under differential privacy until it can count every earlier charge', parseRecord);
}

/**
 * Per dataset — every dataset with a budget, and every dataset a charge touched — its budget,
 * what is spent and remains at `now`, its charges and when the oldest that counts renews.
 */
export function summariseBudgets(charges: readonly PrivacyChargeRecord[], budgets: Readonly<Record<string, DatasetBudget>>, now: Date): Record<string, DatasetSpend> {
  const names = [...new Set([...Object.keys(budgets), ...charges.flatMap((c) => c.datasets)])].sort();
  return Object.fromEntries(names.map((dataset) => {
    const budget = budgets[dataset];
    const touching = charges.filter((c) => c.datasets.includes(dataset));
    const marked = touching.map((c) => ({ ...c, counts: counts(c, budget, now) }));
    const counting = marked.filter((c) => c.counts);
    const delta = budget?.delta ?? Math.min(...touching.map((c) => c.delta));
    const spentEpsilon = counting.length === 0 ? 0 : spend(counting.map(curveOf), delta);
    const renewsAt = budget?.renewEveryMs === undefined ? undefined : renewalOf(counting, budget.renewEveryMs);
    const summary: DatasetSpend = {
      ...(budget ? { budget, remainingEpsilon: Math.max(0, budget.epsilon - spentEpsilon) } : {}),
      spentEpsilon,
      delta,
      charges: marked,
      ...(renewsAt ? { renewsAt } : {}),
    };
    return [dataset, summary];
  }));
}

/** Refuses unless every budgeted dataset that `fresh` touches stays within its ε after them. */
function assertFits(records: readonly PrivacyChargeRecord[], fresh: readonly PrivacyCharge[], budgets: Readonly<Record<string, DatasetBudget>>, now: Date): void {
  if (fresh.length === 0) return;
  const datasets = [...new Set(fresh.flatMap((c) => c.datasets))];
  for (const dataset of datasets) {
    const budget = budgets[dataset];
    // Charged and recorded, never refused: the operator set no budget for it.
    if (!budget) continue;
    const earlier = records.filter((r) => r.datasets.includes(dataset) && counts(r, budget, now));
    const asked = fresh.filter((c) => c.datasets.includes(dataset));
    const after = spend([...earlier, ...asked].map(curveOf), budget.delta);
    if (after > budget.epsilon) {
      const spent = earlier.length === 0 ? 0 : spend(earlier.map(curveOf), budget.delta);
      refuse(dataset, budget, spent, asked, earlier.length, budget.renewEveryMs === undefined ? undefined : renewalOf(earlier, budget.renewEveryMs));
    }
  }
}

/** Whether a charge still counts against `budget` at `now`: always, unless the budget renews and it is older than the period. */
function counts(record: PrivacyChargeRecord, budget: DatasetBudget | undefined, now: Date): boolean {
  if (budget?.renewEveryMs === undefined) return true;
  return Date.parse(record.at) + budget.renewEveryMs > now.getTime();
}

/** When the oldest of `counting` stops counting; none when none counts. */
function renewalOf(counting: readonly PrivacyChargeRecord[], renewEveryMs: number): string | undefined {
  if (counting.length === 0) return undefined;
  const oldest = Math.min(...counting.map((r) => Date.parse(r.at)));
  return new Date(oldest + renewEveryMs).toISOString();
}

function curveOf(charge: PrivacyCharge): RdpCurve {
  return skellamRdp(charge.unitVariance, UNIT_SENSITIVITY);
}

/** ε at `delta` of the releases whose curves these are, composed (Mironov 2017, Proposition 1). */
function spend(curves: readonly RdpCurve[], delta: number): number {
  return rdpToDp(composeRdp(curves), delta).epsilon;
}

function keyOf(charge: Pick<PrivacyCharge, 'runId' | 'step'>): string {
  return `${charge.runId}\u0000${charge.step}`;
}

/** A charge the caller built wrong is a programmer's mistake, not a refusal. */
function assertCharge(charge: PrivacyCharge): void {
  const ok = typeof charge.runId === 'string' && charge.runId !== '' && typeof charge.step === 'string' && charge.step !== '' &&
    typeof charge.org === 'string' && Array.isArray(charge.datasets) && charge.datasets.length > 0 && charge.datasets.every((d) => typeof d === 'string' && d !== '') &&
    charge.epsilon > 0 && Number.isFinite(charge.epsilon) && charge.delta > 0 && charge.delta < 1 && charge.unitVariance > 0 && Number.isFinite(charge.unitVariance);
  if (!ok) throw new TypeError('PrivacyBudget: a charge needs runId, step, org, at least one dataset, ε > 0 finite, δ in (0, 1) and a positive finite unitVariance.');
}

function parseRecord(line: string): PrivacyChargeRecord | undefined {
  try {
    const r = JSON.parse(line) as Partial<PrivacyChargeRecord>;
    const ok = typeof r.at === 'string' && !Number.isNaN(Date.parse(r.at)) && typeof r.runId === 'string' && typeof r.step === 'string' && typeof r.org === 'string' &&
      Array.isArray(r.datasets) && r.datasets.every((d) => typeof d === 'string') &&
      typeof r.epsilon === 'number' && typeof r.delta === 'number' && typeof r.unitVariance === 'number' && r.unitVariance > 0;
    return ok ? (r as PrivacyChargeRecord) : undefined;
  } catch {
    return undefined;
  }
}

/** An ε or δ as people read it: three significant digits, a small δ as 1e-6. */
export function privacyFigure(x: number): string {
  const rounded = Number(x.toPrecision(3));
  return rounded !== 0 && Math.abs(rounded) < 1e-3 ? rounded.toExponential() : rounded.toString();
}

/** The refusal: the dataset, the site, what remains, what was asked, and when it renews. Nothing was recorded. */
function refuse(dataset: string, budget: DatasetBudget, spent: number, asked: readonly PrivacyCharge[], earlier: number, renewsAt: string | undefined): never {
  const first = asked[0]!;
  const remaining = Math.max(0, budget.epsilon - spent);
  const what = asked.map((c) => `ε = ${privacyFigure(c.epsilon)}, δ = ${privacyFigure(c.delta)}`).join('; ');
  const askedText = asked.length === 1 ? `the release asked for ${what}` : `the releases asked for ${what} together`;
  const releases = asked.map((c) => `"${c.step}"`).join(', ');
  const next = earlier === 0
    ? `No earlier charge counts: the release alone would cost more than the whole budget. Ask for a smaller ε, or ask ${first.org}'s operator whether to raise the budget.`
    : renewsAt
      ? `The oldest charge that counts renews at ${renewsAt}: ask for a smaller ε, or run again after then.`
      : `This budget does not renew: ask for a smaller ε, or ask ${first.org}'s operator whether to raise it.`;
  throw new ParleyError(
    ErrorCode.PrivacyBudget,
    `Run "${first.runId}" was refused at site "${first.org}": its ${asked.length === 1 ? 'release' : 'releases'} ${releases} would overspend the privacy budget of dataset "${dataset}" (ERR_PRIVACY_BUDGET). ` +
      `Of its ε = ${privacyFigure(budget.epsilon)} at δ = ${privacyFigure(budget.delta)}, ε = ${privacyFigure(remaining)} remains, and ${askedText}. Nothing was charged. ${next}`,
    { runId: first.runId, step: first.step, org: first.org, dataset, remainingEpsilon: Number(remaining.toPrecision(3)), askedEpsilon: first.epsilon, askedDelta: first.delta, ...(renewsAt ? { renewsAt } : {}) },
  );
}
