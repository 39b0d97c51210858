/**
 * Waiting for the Docker engine to report something, instead of polling it: the engine's event
 * stream (`GET /events`), filtered, ends at the first event that matches.
 */
import type Docker from 'dockerode';

/**
 * Resolves with the labels of the first container that starts from now on and whose labels
 * satisfy `matches`. The stream is opened before this returns, so an event that happens right
 * after the call is not missed; the predicate is asked when each event comes (it may read
 * variables set later, e.g. a run id known only once the run has started).
 */
export function containerStarted(docker: Docker, matches: (labels: Record<string, string>) => boolean): Promise<Record<string, string>> {
  const stream = docker.getEvents({ filters: { type: ['container'], event: ['start'] } });
  return stream.then((events) => new Promise((resolve, reject) => {
    let buffered = '';
    const done = (fn: () => void) => {
      (events as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
      fn();
    };
    events.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        if (line.trim() === '') continue;
        const event = JSON.parse(line) as { Actor?: { Attributes?: Record<string, string> } };
        const labels = event.Actor?.Attributes ?? {};
        if (matches(labels)) return done(() => resolve(labels));
      }
    });
    events.once('error', (err: Error) => done(() => reject(err)));
  }));
}
