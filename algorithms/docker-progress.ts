/**
 * Reads the JSON-lines progress stream the engine answers a build, import or pull with. The HTTP
 * status of those calls is 200 even when the work fails: the failure arrives as an `error` line
 * in the body, so the whole stream has to be read before success is known.
 */

/** One object of an engine progress stream (only the fields Parley reads). */
export interface ProgressEvent {
  stream?: string;
  status?: string;
  progress?: string;
  error?: string;
  errorDetail?: { message?: string };
  aux?: { ID?: string };
}

/** Called with each human-readable line of a build or import, without its trailing newline. */
export type OnProgress = (line: string) => void;

/**
 * Consumes `stream` to its end, passing each non-empty text line to `onProgress`, and resolves
 * with every event. Throws an Error carrying the engine's message when an event has `error`,
 * or when the stream itself fails.
 */
export async function readProgress(stream: NodeJS.ReadableStream, onProgress?: OnProgress): Promise<ProgressEvent[]> {
  const events: ProgressEvent[] = [];
  let pending = '';
  let failure: string | undefined;
  const take = (line: string): void => {
    if (line.trim() === '') return;
    let event: ProgressEvent;
    try {
      event = JSON.parse(line) as ProgressEvent;
    } catch {
      event = { stream: line };
    }
    events.push(event);
    if (event.error !== undefined) failure ??= event.errorDetail?.message ?? event.error;
    // Byte counters (`progress`) are noise for a person reading a log; statuses and build output are not.
    const text = event.stream ?? (event.progress === undefined ? event.status : undefined) ?? event.error;
    if (onProgress && text) for (const part of text.split('\n')) if (part.trim() !== '') onProgress(part.trimEnd());
  };
  for await (const chunk of stream) {
    pending += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) take(line);
  }
  take(pending);
  if (failure !== undefined) throw new Error(failure.trim());
  return events;
}
