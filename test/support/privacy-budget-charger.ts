/**
 * A site charging its privacy budget in a loop, for the crash test in
 * activities/privacy-budget.test.ts: `node --import tsx privacy-budget-charger.ts DIR FROM`
 * charges runs FROM, FROM + 1, … (step "sum", datasets visits and registry) and prints
 * `charged <i> <true|false>` once each charge has returned, i.e. is durable. The test SIGKILLs it
 * at random moments and starts it again from the first charge it did not see reported: that one
 * may already be in the ledger, and must then not be charged twice.
 */
import { calibrateSkellam } from '../../common/privacy/rdp.ts';
import { openPrivacyBudget } from '../../activities/privacy-budget.ts';

const [dir, from] = process.argv.slice(2);
if (!dir || from === undefined) throw new Error('usage: privacy-budget-charger.ts DIR FROM');
// A budget far above what the test spends: every charge is composed and checked, none refused.
const ledger = openPrivacyBudget(dir, { visits: { epsilon: 1e6, delta: 1e-6 } });
const unitVariance = calibrateSkellam({ epsilon: 1, delta: 1e-6 });
process.stdout.write('ready\n');
for (let i = Number(from); ; i++) {
  const { charged } = await ledger.charge({ runId: `run-${i}`, step: 'sum', org: 'north', datasets: ['visits', 'registry'], epsilon: 1, delta: 1e-6, unitVariance });
  process.stdout.write(`charged ${i} ${charged}\n`);
}
