/* eslint-disable @typescript-eslint/no-require-imports -- the SDK require()s this file by path, so it is CommonJS */
/**
 * The failure converter every Parley worker and client uses, loaded by path (the SDK require()s
 * it, and the coordinator's workflow bundle includes it): Temporal's default, with messages and
 * stack traces moved into an encoded payload that the failure codec (failure-codec.ts) seals at
 * a site, instead of leaving them as text in the history. CommonJS, because the SDK require()s it.
 */
'use strict';
const { DefaultFailureConverter } = require('@temporalio/common');

exports.failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
