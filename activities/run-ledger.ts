/**
 * The site's record of which envelopes it has opened in each run, so a relayed envelope cannot
 * be fed to it twice. Kept in the site's state directory (never in the run volume, which the
 * algorithm can write) and removed when the run ends.
 *
 * A step's inputs are admitted as one batch: each is checked as it is opened, and all of them are
 * written with one fsync before the step's container starts. One fsynced write per input made the
 * sum step of an additive secure sum at 10 sites spend 0.3–1 s in fsyncs on a busy machine
 * (issue 17); the guarantee is the same, since nothing opened is used before the batch is durable.
 */
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { EnvelopeBinding } from '../common/envelope.ts';
import { writeFileAtomically } from '../common/write-file-atomically.ts';
import { replayedError, type ReplayGuard } from '../crypto/index.ts';

type Entry = { step: string; digest: string };
type Entries = Record<string, Entry>;

export interface RunLedger extends ReplayGuard {
  /** Forgets a run (its end). */
  forget(runId: string): Promise<void>;
  /** A guard for one step's inputs, written once by its commit(). */
  batch(): ReplayBatch;
}

/**
 * A replay guard whose admissions are checked at once — against the ledger and the batch's own
 * earlier ones — but written only by {@link ReplayBatch.commit}, with one fsync. Whatever it
 * admitted must not be used before commit() has resolved.
 */
export interface ReplayBatch extends ReplayGuard {
  /**
   * Writes the batch's admissions. Checks them again against the ledger as it is now, so a batch
   * of another step that committed the same (run, sender, seq) for another envelope meanwhile wins.
   * @throws ParleyError EnvelopeReplayed when one was committed meanwhile for another envelope or step.
   */
  commit(): Promise<void>;
}

const keyOf = (binding: EnvelopeBinding) => `${binding.from}\u0000${binding.seq}`;

/** A replay guard persisted as one small JSON file per run under `dir`. */
export function createRunLedger(dir: string): RunLedger {
  // One site worker owns its state directory; this chain serialises its read-modify-writes.
  let queue: Promise<unknown> = Promise.resolve();
  const serialised = <T>(task: () => Promise<T>): Promise<T> => {
    const next = queue.then(task, task);
    queue = next.catch(() => undefined);
    return next;
  };
  const dirOf = (runId: string) => join(dir, encodeURIComponent(runId));
  const fileOf = (runId: string) => join(dirOf(runId), 'ledger.json');
  // What each run's file holds, as this ledger last read or wrote it (issue 17: a step's batch
  // read the file again; the file stays the record, written with its fsync before any use).
  // Reads hand out copies, so an admission whose write fails leaves the cache as the file is.
  const written = new Map<string, Entries>();
  const read = async (runId: string): Promise<Entries> => {
    let entries = written.get(runId);
    if (entries === undefined) {
      try {
        // Synchronous: a small file, and the thread pool is where the process's fsyncs wait.
        entries = JSON.parse(readFileSync(fileOf(runId), 'utf8')) as Entries;
      } catch {
        entries = {}; // first envelope of this run at this site
      }
      written.set(runId, entries);
    }
    return { ...entries };
  };
  const write = async (runId: string, entries: Entries) => {
    mkdirSync(dirOf(runId), { recursive: true, mode: 0o700 });
    await writeFileAtomically(fileOf(runId), JSON.stringify(entries));
    written.set(runId, { ...entries });
  };

  return {
    admit(binding: EnvelopeBinding, digest: string) {
      return serialised(async () => {
        const entries = await read(binding.runId);
        const key = keyOf(binding);
        const seen = entries[key];
        if (seen) return seen.step === binding.step && seen.digest === digest;
        entries[key] = { step: binding.step, digest };
        await write(binding.runId, entries);
        return true;
      });
    },
    batch() {
      const pending = new Map<string, Map<string, Entry & { binding: EnvelopeBinding }>>();
      // The ledger as this batch first read it, per run: one read per step, not one per input.
      // What another step commits meanwhile is caught at commit().
      const known = new Map<string, Promise<Entries>>();
      return {
        admit(binding: EnvelopeBinding, digest: string) {
          return serialised(async () => {
            const key = keyOf(binding);
            let entries = known.get(binding.runId);
            if (entries === undefined) known.set(binding.runId, (entries = read(binding.runId)));
            const seen: Entry | undefined = (await entries)[key] ?? pending.get(binding.runId)?.get(key);
            if (seen) return seen.step === binding.step && seen.digest === digest;
            let run = pending.get(binding.runId);
            if (run === undefined) pending.set(binding.runId, (run = new Map()));
            run.set(key, { step: binding.step, digest, binding });
            return true;
          });
        },
        commit() {
          return serialised(async () => {
            for (const [runId, admitted] of pending) {
              const entries = await read(runId);
              let changed = false;
              for (const [key, { step, digest, binding }] of admitted) {
                const seen = entries[key];
                if (seen && (seen.step !== step || seen.digest !== digest)) throw replayedError(binding, 'admitted meanwhile');
                if (seen) continue;
                entries[key] = { step, digest };
                changed = true;
              }
              if (changed) await write(runId, entries);
            }
            pending.clear();
            known.clear();
          });
        },
      };
    },
    forget(runId: string) {
      return serialised(async () => {
        written.delete(runId);
        // Synchronous: one small file, where an asynchronous rm waits in the thread pool.
        rmSync(dirOf(runId), { recursive: true, force: true });
      });
    },
  };
}

