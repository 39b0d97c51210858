/**
 * Which process made a container or volume, so a start-up sweep removes only what no running
 * process still owns. Two `parley demo` on one machine run site workers of the same
 * organisations on one Docker engine, each with a Temporal of its own: without an owner, each
 * demo's sweep took the other's live runs for a crash's leftovers (its Temporal knows nothing of
 * them) and removed their volumes and running containers.
 *
 * The owner is `<host name>/<pid>`. A sweep leaves alone what a live process on this host other
 * than itself owns; anything else — its own, a dead process's, another host's (which it cannot
 * ask) — it sweeps as before, so a crashed worker's leftovers still go.
 */
import { hostname } from 'node:os';

/** This process as an owner label value. */
export function processOwner(): string {
  return `${hostname()}/${process.pid}`;
}

/** True when `owner` names a process on this host, other than this one, that is still running. */
export function ownedByAnotherLiveProcess(owner: string | undefined): boolean {
  if (owner === undefined || owner === processOwner()) return false;
  const slash = owner.lastIndexOf('/');
  const pid = Number(owner.slice(slash + 1));
  if (owner.slice(0, slash) !== hostname() || !Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    // Signal 0 delivers nothing: it only asks whether the process exists.
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists, under another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
