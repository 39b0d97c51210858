/**
 * The site's release ledger: per dataset, the row sets of the cohorts it has let a step form, so
 * that a researcher cannot single out a few patients by differencing two results (the same chain
 * with one more filter, say: the two totals differ by exactly the patients filtered out).
 *
 * A new cohort whose symmetric difference from any earlier cohort of the same dataset holds
 * between 1 and threshold − 1 rows is refused (ERR_DISCLOSURE_DIFFERENCE); the same cohort again
 * (difference 0) and a cohort at least `threshold` rows away pass.
 *
 * Rows are never stored: each row id is kept as HMAC-SHA-256 under a secret of the site's own
 * (32 random bytes, 0600 in the ledger's directory), bound to the dataset, so the ledger cannot
 * be matched against a list of candidate ids by anyone without the secret — patient ids are
 * short and guessable, and a plain hash of one would be no protection. The ledger is JSON lines,
 * appended and fsynced before a step's result leaves the site, so it survives a crash or a
 * restart; a torn last line (a crash mid-append) is ignored, any other unreadable line stops every
 * release until the operator restores the file.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { chmod, mkdir, open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCode, ParleyError } from '../common/errors.ts';
import type { OrgId } from '../common/ids.ts';
import { appendLine, readRecords } from './append-only-file.ts';

/** One cohort the site admitted, as the ledger keeps it. */
export interface ReleaseRecord {
  dataset: string;
  /** When it was admitted, ISO 8601. */
  at: string;
  runId: string;
  step: string;
  /** Distinct rows in the cohort. */
  size: number;
  /** A keyed hash of the whole row set: equal sets, equal hashes. */
  setHash: string;
  /** The keyed hash of each row id (its first 128 bits, hex), sorted. */
  rows: string[];
}

/** A cohort a step reported, where and under which threshold it is to be admitted. */
export interface CohortToAdmit {
  runId: string;
  step: string;
  org: OrgId;
  dataset: string;
  rows: readonly string[];
  threshold: number;
}

export interface ReleaseLedger {
  /**
   * Checks the cohort against every earlier one of its dataset and, if it passes, appends it
   * durably. Serialised: two steps of one site never check against a ledger missing the other.
   * @throws ParleyError DisclosureDifference when it differs from an earlier cohort by 1 to
   *   threshold − 1 rows (nothing is recorded); InvalidInput when the ledger file is unreadable.
   */
  admit(cohort: CohortToAdmit): Promise<ReleaseRecord>;
}

const LEDGER_FILE = 'releases.jsonl';
const SECRET_FILE = 'secret';
const ROW_HASH_HEX = 32;

/** The directory of a site's release ledger inside its state directory. */
export function releaseLedgerDir(stateDir: string): string {
  return join(stateDir, 'releases');
}

/** Opens (creating on first use) the release ledger kept in `dir`. */
export function openReleaseLedger(dir: string): ReleaseLedger {
  let queue: Promise<unknown> = Promise.resolve();
  let loaded: Promise<{ secret: Buffer; records: ReleaseRecord[] }> | undefined;
  const load = () => (loaded ??= (async () => ({ secret: await siteSecret(dir), records: await readReleases(dir) }))().catch((err: unknown) => {
    loaded = undefined;
    throw err;
  }));

  return {
    admit(cohort) {
      const task = async (): Promise<ReleaseRecord> => {
        const { secret, records } = await load();
        // 128 bits a row: collisions stay out of reach (≈ n² / 2¹²⁹) at half the ledger's size.
        const rows = [...new Set(cohort.rows.map((id) => keyed(secret, `row\u0000${cohort.dataset}\u0000${id}`).slice(0, ROW_HASH_HEX)))].sort();
        for (const earlier of records) {
          if (earlier.dataset !== cohort.dataset) continue;
          const difference = symmetricDifference(earlier.rows, rows);
          if (difference > 0 && difference < cohort.threshold) refuse(cohort);
        }
        const record: ReleaseRecord = {
          dataset: cohort.dataset,
          at: new Date().toISOString(),
          runId: cohort.runId,
          step: cohort.step,
          size: rows.length,
          setHash: keyed(secret, `set\u0000${cohort.dataset}\u0000${rows.join(',')}`),
          rows,
        };
        await appendLine(join(dir, LEDGER_FILE), JSON.stringify(record));
        records.push(record);
        return record;
      };
      const next = queue.then(task, task);
      queue = next.catch(() => undefined);
      return next;
    },
  };
}

/**
 * The ledger's records in the order they were admitted; none when there is no ledger yet.
 * Needs no secret: what `parley site releases` shows.
 * @throws ParleyError InvalidInput when a line other than a torn last one is not a record.
 */
export async function readReleases(dir: string): Promise<ReleaseRecord[]> {
  return readRecords(join(dir, LEDGER_FILE), 'release ledger', 'The site releases nothing until it can check every earlier release', parseRecord);
}

function parseRecord(line: string): ReleaseRecord | undefined {
  try {
    const r = JSON.parse(line) as Partial<ReleaseRecord>;
    const ok = typeof r.dataset === 'string' && typeof r.at === 'string' && typeof r.runId === 'string' && typeof r.step === 'string' &&
      typeof r.size === 'number' && typeof r.setHash === 'string' && Array.isArray(r.rows) && r.rows.every((h) => typeof h === 'string');
    return ok ? (r as ReleaseRecord) : undefined;
  } catch {
    return undefined;
  }
}

/** |a Δ b| for two sorted lists of distinct strings. */
function symmetricDifference(a: readonly string[], b: readonly string[]): number {
  let i = 0;
  let j = 0;
  let common = 0;
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) {
      common++;
      i++;
      j++;
    } else if (a[i]! < b[j]!) {
      i++;
    } else {
      j++;
    }
  }
  return a.length + b.length - 2 * common;
}

function keyed(secret: Buffer, text: string): string {
  return createHmac('sha256', secret).update(text, 'utf8').digest('hex');
}

/** The site's ledger secret, created (0600) on first use; 32 random bytes as hex. */
async function siteSecret(dir: string): Promise<Buffer> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, SECRET_FILE);
  try {
    const handle = await open(file, 'wx', 0o600);
    try {
      await handle.writeFile(`${randomBytes(32).toString('hex')}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  await chmod(file, 0o600);
  const hex = (await readFile(file, 'utf8')).trim();
  if (!/^[0-9a-f]{64}$/.test(hex)) {
    throw new ParleyError(ErrorCode.InvalidInput, `The release ledger's secret ${file} is not 64 hex digits. Restore it from a backup: without it the site cannot compare new cohorts with earlier ones.`, { path: file });
  }
  return Buffer.from(hex, 'hex');
}

/** The refusal: dataset and threshold, never the difference or the earlier run. */
function refuse(cohort: CohortToAdmit): never {
  throw new ParleyError(
    ErrorCode.DisclosureDifference,
    `Step "${cohort.step}" at site "${cohort.org}" formed a cohort of dataset "${cohort.dataset}" that differs from one the site released earlier by fewer rows than its disclosure threshold of ${cohort.threshold} (ERR_DISCLOSURE_DIFFERENCE). ` +
      'Nothing was released: the two results together would single out those rows. Use the same cohort as before, or one that differs from every earlier one by at least the threshold.',
    { runId: cohort.runId, step: cohort.step, org: cohort.org, dataset: cohort.dataset, threshold: cohort.threshold },
  );
}
