/**
 * The privacy-budget ledger as a site operator relies on it: a dataset's budget runs out and the
 * next release is refused, saying what remains; renewals free it again; composition is the RDP
 * accountant's, tighter than adding ε's; and the ledger is durable — a restart, a torn line or a
 * SIGKILL mid-charge neither loses a charge nor counts one twice.
 */
import { spawn } from 'node:child_process';
import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, isParleyError } from '../common/errors.ts';
import { calibrateSkellam, composeRdp, rdpToDp, skellamRdp, UNIT_SENSITIVITY } from '../common/privacy/rdp.ts';
import { openPrivacyBudget, privacyBudgetDir, readPrivacyCharges, summariseBudgets, type PrivacyCharge } from './privacy-budget.ts';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'parley-privacy-budget-'));
});
afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

const DELTA = 1e-6;
/** The noise of a release calibrated to ε = 1 at δ = 1e-6, as the coordinator would pick it. */
const unitVariance = calibrateSkellam({ epsilon: 1, delta: DELTA });
const release = (runId: string, datasets = ['visits'], step = 'sum'): PrivacyCharge => ({ runId, step, org: 'north', datasets, epsilon: 1, delta: DELTA, unitVariance });
const budgets = { visits: { epsilon: 3, delta: DELTA } };
const ledgerFile = (dir: string) => join(dir, 'budget.jsonl');

async function refusalOf(promise: Promise<unknown>) {
  const err = await promise.then(() => undefined, (e: unknown) => e);
  if (!isParleyError(err)) throw new Error(`expected a ParleyError, got ${String(err)}`);
  return err;
}

/** A clock the test moves by hand. */
function manualClock(start: string) {
  let t = Date.parse(start);
  return { now: () => new Date(t), advance: (ms: number) => (t += ms) };
}

describe('privacy budget', () => {
  it('keeps its ledger in the state directory\'s privacy folder', () => {
    expect(privacyBudgetDir('/var/lib/parley-site')).toBe('/var/lib/parley-site/privacy');
  });

  it('charges releases until the budget is spent, then refuses the next, naming the dataset, the site, what remains and what was asked, and records nothing', async () => {
    const dir = join(root, 'exhaustion');
    const ledger = openPrivacyBudget(dir, budgets);
    // Seven releases of ε = 1 compose to ε ≈ 2.88 at δ = 1e-6; an eighth would reach ≈ 3.10.
    for (let i = 1; i <= 7; i++) expect(await ledger.charge(release(`run-${i}`))).toEqual({ charged: true });
    const before = await readFile(ledgerFile(dir), 'utf8');

    const err = await refusalOf(ledger.charge(release('run-8')));
    expect(err.code).toBe(ErrorCode.PrivacyBudget);
    expect(err.message).toBe(
      'Run "run-8" was refused at site "north": its release "sum" would overspend the privacy budget of dataset "visits" (ERR_PRIVACY_BUDGET). ' +
        'Of its ε = 3 at δ = 1e-6, ε = 0.12 remains, and the release asked for ε = 1, δ = 1e-6. Nothing was charged. ' +
        'This budget does not renew: ask for a smaller ε, or ask north\'s operator whether to raise it.',
    );
    expect(err.details).toMatchObject({ runId: 'run-8', step: 'sum', org: 'north', dataset: 'visits', remainingEpsilon: 0.12, askedEpsilon: 1, askedDelta: DELTA });
    expect(await readFile(ledgerFile(dir), 'utf8')).toBe(before);
    // check() gives the same answer and records nothing either.
    expect((await refusalOf(ledger.check([release('run-8')]))).code).toBe(ErrorCode.PrivacyBudget);
    expect(await readFile(ledgerFile(dir), 'utf8')).toBe(before);

    // A smaller release still fits what remains.
    const small = { ...release('run-9'), epsilon: 0.05, unitVariance: calibrateSkellam({ epsilon: 0.05, delta: DELTA }) };
    await ledger.check([small]);
    expect(await ledger.charge(small)).toEqual({ charged: true });
    expect((await readPrivacyCharges(dir)).map((c) => c.runId)).toEqual(['run-1', 'run-2', 'run-3', 'run-4', 'run-5', 'run-6', 'run-7', 'run-9']);
  });

  it('refuses a release too large for the whole budget, saying so', async () => {
    const ledger = openPrivacyBudget(join(root, 'too-large'), budgets);
    const large = { ...release('run-1'), epsilon: 5, unitVariance: calibrateSkellam({ epsilon: 5, delta: DELTA }) };
    const err = await refusalOf(ledger.charge(large));
    expect(err.message).toMatch(/ε = 3 remains, and the release asked for ε = 5, δ = 1e-6\. Nothing was charged\. No earlier charge counts: the release alone would cost more than the whole budget\./);
    expect(await readPrivacyCharges(join(root, 'too-large'))).toEqual([]);
  });

  it('checks several releases together, on top of the ledger, recording none', async () => {
    const dir = join(root, 'check');
    const ledger = openPrivacyBudget(dir, budgets);
    for (let i = 1; i <= 5; i++) await ledger.charge(release(`run-${i}`));
    // Five spent (≈ 2.39): two more fit (≈ 2.88), three do not (≈ 3.10).
    await ledger.check([release('run-6'), release('run-7')]);
    const err = await refusalOf(ledger.check([release('run-6', ['visits'], 'count'), release('run-6', ['visits'], 'mean'), release('run-6', ['visits'], 'variance')]));
    expect(err.message).toMatch(/^Run "run-6" was refused at site "north": its releases "count", "mean", "variance" would overspend .* the releases asked for ε = 1, δ = 1e-6; ε = 1, δ = 1e-6; ε = 1, δ = 1e-6 together\./);
    // The same release twice in one check, or one already charged, counts once.
    await ledger.check([release('run-6'), release('run-6'), release('run-1'), release('run-7')]);
    expect(await readPrivacyCharges(dir)).toHaveLength(5);
  });

  it('charges a dataset without a budget, never refusing it, and charges all of a release\'s datasets or none', async () => {
    const dir = join(root, 'unbudgeted');
    const ledger = openPrivacyBudget(dir, budgets);
    for (let i = 1; i <= 7; i++) await ledger.charge(release(`run-${i}`, ['visits', 'registry']));
    // visits is spent: a release reading both is refused, and registry is not charged for it.
    expect((await refusalOf(ledger.charge(release('run-8', ['visits', 'registry'])))).details.dataset).toBe('visits');
    for (let i = 8; i <= 20; i++) expect(await ledger.charge(release(`run-${i}`, ['registry']))).toEqual({ charged: true });
    const summary = summariseBudgets(await readPrivacyCharges(dir), budgets, new Date());
    expect(summary.registry!.charges).toHaveLength(20);
    expect(summary.registry!.budget).toBeUndefined();
    expect(summary.registry!.remainingEpsilon).toBeUndefined();
    expect(summary.visits!.charges.map((c) => c.runId)).toEqual(['run-1', 'run-2', 'run-3', 'run-4', 'run-5', 'run-6', 'run-7']);
    // One line per charge, with all its datasets.
    const lines = (await readFile(ledgerFile(dir), 'utf8')).trimEnd().split('\n');
    expect(lines).toHaveLength(20);
    expect(JSON.parse(lines[0]!)).toMatchObject({ runId: 'run-1', step: 'sum', org: 'north', datasets: ['visits', 'registry'], epsilon: 1, delta: DELTA, unitVariance });
  });

  it('composes releases with the RDP accountant: k releases of ε spend less than kε, exactly rdpToDp of their composed curves', async () => {
    const dir = join(root, 'composition');
    const ledger = openPrivacyBudget(dir, { visits: { epsilon: 100, delta: DELTA } });
    const curve = skellamRdp(unitVariance, UNIT_SENSITIVITY);
    for (let k = 1; k <= 10; k++) {
      await ledger.charge(release(`run-${k}`));
      const { visits } = summariseBudgets(await readPrivacyCharges(dir), { visits: { epsilon: 100, delta: DELTA } }, new Date());
      const composed = rdpToDp(composeRdp(Array.from({ length: k }, () => curve)), DELTA).epsilon;
      expect(visits!.spentEpsilon).toBe(composed);
      expect(visits!.remainingEpsilon).toBe(100 - composed);
      expect(visits!.delta).toBe(DELTA);
      // One release spends what it was calibrated to; more spend less than the sum of their ε's.
      if (k === 1) expect(composed).toBeCloseTo(1, 3);
      else expect(composed).toBeLessThan(k);
    }
    // Ten releases of ε = 1 cost ≈ 3.51, not 10: the accountant's whole point.
    const { visits } = summariseBudgets(await readPrivacyCharges(dir), { visits: { epsilon: 100, delta: DELTA } }, new Date());
    expect(visits!.spentEpsilon).toBeGreaterThan(3.4);
    expect(visits!.spentEpsilon).toBeLessThan(3.6);
  });

  it('lets a charge older than renewEvery stop counting, and says when the oldest renews', async () => {
    const dir = join(root, 'renewal');
    const day = 24 * 3_600_000;
    const renewing = { visits: { epsilon: 3, delta: DELTA, renewEveryMs: 30 * day } };
    const clock = manualClock('2026-01-01T00:00:00.000Z');
    const ledger = openPrivacyBudget(dir, renewing, clock.now);
    for (let i = 1; i <= 7; i++) {
      await ledger.charge(release(`run-${i}`));
      clock.advance(day);
    }
    // Day 7: all seven count; the first renews on day 30.
    const err = await refusalOf(ledger.charge(release('run-8')));
    expect(err.message).toMatch(/The oldest charge that counts renews at 2026-01-31T00:00:00\.000Z: ask for a smaller ε, or run again after then\.$/);
    expect(err.details.renewsAt).toBe('2026-01-31T00:00:00.000Z');
    expect(summariseBudgets(await readPrivacyCharges(dir), renewing, clock.now()).visits).toMatchObject({ renewsAt: '2026-01-31T00:00:00.000Z' });

    // One millisecond before day 30 it still counts; at day 30 it does not, and run-8 fits.
    clock.advance(23 * day - 1);
    expect((await refusalOf(ledger.charge(release('run-8')))).code).toBe(ErrorCode.PrivacyBudget);
    clock.advance(1);
    expect(await ledger.charge(release('run-8'))).toEqual({ charged: true });
    const { visits } = summariseBudgets(await readPrivacyCharges(dir), renewing, clock.now());
    expect(visits!.charges.map((c) => [c.runId, c.counts])).toEqual([
      ['run-1', false], ['run-2', true], ['run-3', true], ['run-4', true], ['run-5', true], ['run-6', true], ['run-7', true], ['run-8', true],
    ]);
    expect(visits!.renewsAt).toBe('2026-02-01T00:00:00.000Z');
    // Once every charge has renewed, nothing is spent.
    clock.advance(60 * day);
    expect(summariseBudgets(await readPrivacyCharges(dir), renewing, clock.now()).visits).toMatchObject({ spentEpsilon: 0, remainingEpsilon: 3 });
  });

  it('charges a retried step once', async () => {
    const dir = join(root, 'retry');
    const ledger = openPrivacyBudget(dir, budgets);
    expect(await ledger.charge(release('run-1'))).toEqual({ charged: true });
    expect(await ledger.charge(release('run-1'))).toEqual({ charged: false });
    // Another step of the same run is another release.
    expect(await ledger.charge(release('run-1', ['visits'], 'mean'))).toEqual({ charged: true });
    // Concurrent retries are serialised: one is recorded.
    const results = await Promise.all([release('run-2'), release('run-2'), release('run-2')].map((c) => ledger.charge(c)));
    expect(results.filter((r) => r.charged)).toHaveLength(1);
    // A retry after a restart, even with the budget spent since, is not refused: it was paid for.
    for (let i = 3; i <= 6; i++) await ledger.charge(release(`run-${i}`));
    expect((await refusalOf(ledger.charge(release('run-7')))).code).toBe(ErrorCode.PrivacyBudget);
    const reopened = openPrivacyBudget(dir, budgets);
    expect(await reopened.charge(release('run-1'))).toEqual({ charged: false });
    await reopened.check([release('run-1')]);
    expect((await readPrivacyCharges(dir)).map((c) => `${c.runId}/${c.step}`)).toEqual(['run-1/sum', 'run-1/mean', 'run-2/sum', 'run-3/sum', 'run-4/sum', 'run-5/sum', 'run-6/sum']);
  });

  it('survives a restart: a ledger reopened over the same directory still refuses the release that would overspend', async () => {
    const dir = join(root, 'restart');
    const first = openPrivacyBudget(dir, budgets);
    for (let i = 1; i <= 7; i++) await first.charge(release(`run-${i}`));
    const second = openPrivacyBudget(dir, budgets);
    expect((await refusalOf(second.charge(release('run-8')))).code).toBe(ErrorCode.PrivacyBudget);
    expect(summariseBudgets(await readPrivacyCharges(dir), budgets, new Date()).visits!.spentEpsilon).toBeCloseTo(2.88, 2);
  });

  it('ignores a torn last line and cuts it off before the next charge', async () => {
    const dir = join(root, 'torn');
    const ledger = openPrivacyBudget(dir, budgets);
    await ledger.charge(release('run-1'));
    // A crash in the middle of an append.
    await appendFile(ledgerFile(dir), '{"at":"2026-01-01T00:00:00.000Z","runId":"run-2","st');
    expect((await readPrivacyCharges(dir)).map((c) => c.runId)).toEqual(['run-1']);
    // The torn charge never completed, so run-2 is charged anew, on a line of its own.
    const reopened = openPrivacyBudget(dir, budgets);
    expect(await reopened.charge(release('run-2'))).toEqual({ charged: true });
    const text = await readFile(ledgerFile(dir), 'utf8');
    expect(text.split('\n').filter(Boolean).map((line) => (JSON.parse(line) as { runId: string }).runId)).toEqual(['run-1', 'run-2']);
  });

  it('stops every charge at an unreadable line other than the last, until the operator restores the file', async () => {
    const dir = join(root, 'corrupt');
    const ledger = openPrivacyBudget(dir, budgets);
    await ledger.charge(release('run-1'));
    const good = await readFile(ledgerFile(dir), 'utf8');
    await writeFile(ledgerFile(dir), `${good}not a charge\n`);
    const reopened = openPrivacyBudget(dir, budgets);
    const err = await refusalOf(reopened.charge(release('run-3')));
    expect(err.code).toBe(ErrorCode.InvalidInput);
    expect(err.message).toMatch(/budget\.jsonl has an unreadable line 2\. The site charges \(and so releases\) nothing under differential privacy until it can count every earlier charge: restore the file from a backup\./);
    expect((await refusalOf(reopened.check([release('run-3')]))).code).toBe(ErrorCode.InvalidInput);
    // Even a dataset without a budget: the ledger must record every charge.
    expect((await refusalOf(reopened.charge(release('run-3', ['registry'])))).code).toBe(ErrorCode.InvalidInput);
    expect(await readFile(ledgerFile(dir), 'utf8')).toBe(`${good}not a charge\n`);
    // Restored, the same ledger charges again.
    await writeFile(ledgerFile(dir), good);
    expect(await reopened.charge(release('run-3'))).toEqual({ charged: true });
  });

  it('refuses a malformed charge as a programmer\'s mistake', async () => {
    const ledger = openPrivacyBudget(join(root, 'malformed'), budgets);
    expect(() => ledger.charge({ ...release('run-1'), datasets: [] })).toThrow(TypeError);
    expect(() => ledger.charge({ ...release('run-1'), unitVariance: 0 })).toThrow(TypeError);
    expect(() => ledger.check([{ ...release('run-1'), delta: 1 }])).toThrow(TypeError);
  });

  it('charges once, never twice, never loses a charge, when its process is SIGKILLed mid-charge again and again', async () => {
    const dir = join(root, 'sigkill');
    const charger = fileURLToPath(new URL('../test/support/privacy-budget-charger.ts', import.meta.url));
    const reported = new Set<number>();
    let from = 0;
    let killedMidLoop = 0;
    for (let round = 0; round < 20; round++) {
      const child = spawn(process.execPath, ['--import', 'tsx', charger, dir, String(from)], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (chunk: Buffer) => {
          stdout += chunk.toString();
          if (stdout.startsWith('ready\n')) resolve();
        });
        child.once('exit', () => reject(new Error(`the charger exited before it was ready: ${stderr}`)));
      });
      // Anywhere from the first charge to well into the loop.
      await new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 150));
      child.kill('SIGKILL');
      expect(await exited).toBe('SIGKILL');
      const done = [...stdout.matchAll(/^charged (\d+) (true|false)$/gm)].map((m) => Number(m[1]));
      if (done.length > 0) killedMidLoop++;
      for (const i of done) reported.add(i);
      // Start again at the first charge not reported: it may be in the ledger already.
      from = done.length > 0 ? done[done.length - 1]! + 1 : from;
    }
    expect(killedMidLoop).toBeGreaterThan(10);
    const charges = await readPrivacyCharges(dir);
    const keys = charges.map((c) => c.runId);
    // Never twice.
    expect(new Set(keys).size).toBe(keys.length);
    // Never lost: every charge the child saw return is there.
    for (const i of reported) expect(keys).toContain(`run-${i}`);
    // In order, with no gaps: nothing but the in-flight charge of the last round is unreported.
    expect(keys).toEqual(Array.from({ length: keys.length }, (_, i) => `run-${i}`));
    expect(keys.length - reported.size).toBeLessThanOrEqual(1);
    // The file parses to the end once the torn line (if any) is cut off by the next charge.
    expect(await openPrivacyBudget(dir, {}).charge(release('after', ['registry']))).toEqual({ charged: true });
    const lines = (await readFile(ledgerFile(dir), 'utf8')).split('\n');
    expect(lines.pop()).toBe('');
    for (const line of lines) expect(() => JSON.parse(line) as unknown).not.toThrow();
  }, 300_000);
});
