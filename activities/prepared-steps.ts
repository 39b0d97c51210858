/**
 * Steps a site has prepared ahead of their turn (issue 17), and the container removals it left
 * running in the background: what the site must wait for, or undo, before a run's volume goes.
 *
 * A prepared step is a checked request's workspace, node socket and created (never started)
 * container. The step itself takes it when its request matches what it was created from, and
 * only starts it; otherwise it is discarded. Whatever happens to the run — the step before fails,
 * the run is cancelled, the step never comes — the run's end at this site (endRun) discards what
 * is still prepared, after waiting for any preparation still under way, so nothing prepared
 * outlives the run; a worker that crashes leaves containers its start-up sweep removes.
 */
import type Docker from 'dockerode';
import type { NodeSocket } from './sandbox/node-socket.ts';
import type { StepWorkspace } from './step-workspace.ts';

/** One step's resources, created from a request whose key they keep. */
export interface PreparedStep {
  /** What the container was created from: the step's own request must give the same key. */
  key: string;
  workspace: StepWorkspace;
  socket: NodeSocket;
  container: Docker.Container;
}

/** Runs whose end this worker already handled: kept so that a late preparation makes nothing. */
const ENDED_RUNS_KEPT = 1000;

type Slot = Promise<PreparedStep | undefined> | 'taken';

export class PreparedSteps {
  readonly #runs = new Map<string, Map<string, Slot>>();
  readonly #removals = new Map<string, Set<Promise<void>>>();
  readonly #ended = new Set<string>();

  /**
   * Prepares (runId, step) with `make`, unless it is already prepared or being prepared, its step
   * has already begun here, or the run has ended here. Resolves once `make` has; rejects with its
   * error (the step then does without).
   */
  async prepare(runId: string, step: string, make: () => Promise<PreparedStep>): Promise<void> {
    if (this.#ended.has(runId)) return;
    const steps = this.#runs.get(runId) ?? new Map<string, Slot>();
    this.#runs.set(runId, steps);
    if (steps.has(step)) return;
    const made = make();
    steps.set(step, made.catch(() => undefined));
    await made;
  }

  /**
   * The step's prepared resources, once any preparation under way is done; undefined when none
   * were made. Either way no later preparation of this step makes any.
   */
  async take(runId: string, step: string): Promise<PreparedStep | undefined> {
    if (this.#ended.has(runId)) return undefined;
    const steps = this.#runs.get(runId) ?? new Map<string, Slot>();
    this.#runs.set(runId, steps);
    const slot = steps.get(step);
    steps.set(step, 'taken');
    return slot === undefined || slot === 'taken' ? undefined : slot;
  }

  /** Lets `removal` (a step's container going) run on; the run's end waits for it. */
  deferRemoval(runId: string, removal: Promise<void>): void {
    const pending = this.#removals.get(runId) ?? new Set<Promise<void>>();
    this.#removals.set(runId, pending);
    const tracked = removal.finally(() => pending.delete(tracked));
    pending.add(tracked);
  }

  /**
   * Discards every step still prepared, of every run, and waits for background removals: the
   * worker is stopping, and a step prepared now would never be taken (a run whose cleanup never
   * came — terminated, say — would otherwise keep its created container until the next start).
   */
  async discardAll(): Promise<void> {
    // Stopping: one container the engine will not remove must not keep the others.
    await Promise.all([...this.#runs.keys()].map((runId) => this.#discardRun(runId).catch(() => undefined)));
    await Promise.all([...this.#removals.values()].flatMap((set) => [...set]));
  }

  /**
   * The run ends at this site: waits for its preparations and background removals, discards
   * every step still prepared, and refuses later preparations of the run.
   */
  async endRun(runId: string): Promise<void> {
    this.#ended.add(runId);
    if (this.#ended.size > ENDED_RUNS_KEPT) this.#ended.delete(this.#ended.values().next().value!);
    await this.#discardRun(runId);
    await Promise.all(this.#removals.get(runId) ?? []);
    this.#removals.delete(runId);
  }

  /** Forgets the run's steps and discards those still prepared, once their preparations are done. */
  async #discardRun(runId: string): Promise<void> {
    const steps = this.#runs.get(runId);
    this.#runs.delete(runId);
    const prepared = await Promise.all([...(steps?.values() ?? [])].map((slot) => (slot === 'taken' ? undefined : slot)));
    await Promise.all(prepared.map((p) => (p ? discardPrepared(p) : undefined)));
  }
}

/** Removes a prepared step's container, closes its socket and removes its workspace. */
export async function discardPrepared(prepared: PreparedStep): Promise<void> {
  await prepared.container.remove({ force: true }).catch((err: unknown) => {
    if ((err as { statusCode?: number } | null)?.statusCode !== 404) throw err;
  });
  await prepared.socket.close();
  await prepared.workspace.dispose();
}
