/**
 * The blob suite (blobs.suite.ts: /v1/blobs as sites and auditors meet it, and retention) with
 * the API's blobs in an S3-compatible store: SeaweedFS, started by this file
 * (test/support/s3-server.ts), which checks the API's SigV4 signatures. PGlite holds the rest.
 */
import { afterAll } from 'vitest';
import { openDatabase } from '../../db/client.ts';
import { startTestS3Server, type TestS3Server } from '../../test/support/s3-server.ts';
import { useApiHarness } from '../testing/harness.ts';
import { createS3BlobBackend } from './blob-s3.ts';
import { blobsSuite } from './blobs.suite.ts';

const PREFIX = 'deployment-a/blobs';
let server: TestS3Server | undefined;
afterAll(async () => server?.stop());

blobsSuite(useApiHarness('s3-blobs', () => openDatabase()), async () => {
  server ??= await startTestS3Server();
  const client = server.client(await server.createBucket());
  return {
    store: createS3BlobBackend(client, PREFIX),
    async held(runId) {
      const keys: string[] = [];
      for await (const page of client.list(`${PREFIX}/${runId}/`)) keys.push(...page.keys);
      return keys;
    },
    // The bucket and its objects go with the server (stop).
    close: async () => {},
  };
}, 'blobs in an S3-compatible store');
