/**
 * Lets the event loop turn between the long synchronous stretches of sealing or opening a large
 * envelope (JSON, base64 and hashing over hundreds of megabytes, each up to a second or more on
 * a loaded machine). A site worker heartbeats to Temporal from a timer on the same loop: a
 * 100 MiB message opened in one stretch outlasted the 5 s heartbeat timeout, and Temporal retried
 * a step that was still running. Small envelopes do not wait: their whole seal or open takes a
 * couple of milliseconds.
 */

/** Envelopes of at least this many characters or bytes let the loop turn between stages. */
export const LARGE_ENVELOPE_CHARS = 1 << 20;

/** Resolves on the next turn of the event loop (timers run first) when `size` is large; at once otherwise. */
export function nextTurnIfLarge(size: number): Promise<void> | undefined {
  if (size < LARGE_ENVELOPE_CHARS) return undefined;
  return new Promise((resolve) => setImmediate(resolve));
}
