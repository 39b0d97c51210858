/**
 * The site's record of which envelopes it has opened in each run, so a relayed envelope cannot
 * be fed to it twice. Kept in the site's state directory (never in the run volume, which the
 * algorithm can write) and removed when the run ends.
 */
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { EnvelopeBinding } from '../common/envelope.ts';
import { writeFileAtomically } from '../common/write-file-atomically.ts';
import type { ReplayGuard } from '../crypto/index.ts';

type Entries = Record<string, { step: string; digest: string }>;

export interface RunLedger extends ReplayGuard {
  /** Forgets a run (its end). */
  forget(runId: string): Promise<void>;
}

/** A replay guard persisted as one small JSON file per run under `dir`. */
export function createRunLedger(dir: string): RunLedger {
  // One site worker owns its state directory; this chain serialises its read-modify-writes.
  let queue: Promise<unknown> = Promise.resolve();
  const serialised = <T>(task: () => Promise<T>): Promise<T> => {
    const next = queue.then(task, task);
    queue = next.catch(() => undefined);
    return next;
  };
  const fileOf = (runId: string) => join(dir, encodeURIComponent(runId), 'ledger.json');

  return {
    admit(binding: EnvelopeBinding, digest: string) {
      return serialised(async () => {
        const file = fileOf(binding.runId);
        let entries: Entries = {};
        try {
          entries = JSON.parse(await readFile(file, 'utf8')) as Entries;
        } catch {
          // first envelope of this run at this site
        }
        const key = `${binding.from}\u0000${binding.seq}`;
        const seen = entries[key];
        if (seen) return seen.step === binding.step && seen.digest === digest;
        entries[key] = { step: binding.step, digest };
        await mkdir(join(dir, encodeURIComponent(binding.runId)), { recursive: true, mode: 0o700 });
        await writeFileAtomically(file, JSON.stringify(entries));
        return true;
      });
    },
    forget(runId: string) {
      return serialised(() => rm(join(dir, encodeURIComponent(runId)), { recursive: true, force: true }));
    },
  };
}
