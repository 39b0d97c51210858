/**
 * The failure converter every Parley worker and client uses (by path: the workflow bundle loads it
 * too): Temporal's default, with messages and stack traces moved into an encoded payload, so the
 * payload codec (failure-codec.ts) can seal them instead of leaving them as text in the history.
 */
import { DefaultFailureConverter } from '@temporalio/common';

export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
