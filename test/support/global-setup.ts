/**
 * One Temporal dev server for the whole test run (or TEMPORAL_ADDRESS when set), started with
 * the Temporal CLI Parley provisions — the SDK is never allowed to download a server — with one
 * namespace per test file already created (test-namespace.ts). Tests read its address with
 * `inject('temporalAddress')` and their namespace with `testNamespace(import.meta.url)`.
 */
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common';
import type { TestProject } from 'vitest/node';
import { startTemporalDevServer } from '../../provision/temporal-dev-server.ts';
import { ensureTemporalCli } from '../../provision/temporal-cli.ts';
import { testNamespace } from './test-namespace.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
  }
}

/** Registers each namespace on a server someone else runs (creating them is idempotent). */
async function registerNamespaces(address: string, namespaces: string[]): Promise<void> {
  const connection = await Connection.connect({ address });
  try {
    for (const namespace of namespaces) {
      try {
        await connection.workflowService.registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs('1 day') });
      } catch (err) {
        if (!/already exists/i.test((err as Error).message)) {
          throw new Error(`Could not create the test namespace ${namespace} on TEMPORAL_ADDRESS ${address}: ${(err as Error).message}. Use a server that lets this client register namespaces (a dev server does), or unset TEMPORAL_ADDRESS to have the tests start one.`, { cause: err });
        }
      }
    }
  } finally {
    await connection.close();
  }
}

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  const { testFiles } = await project.globTestFiles();
  const namespaces = testFiles.map(testNamespace);
  if (process.env.TEMPORAL_ADDRESS) {
    await registerNamespaces(process.env.TEMPORAL_ADDRESS, namespaces);
    project.provide('temporalAddress', process.env.TEMPORAL_ADDRESS);
    return undefined;
  }
  const cli = await ensureTemporalCli((line) => process.stderr.write(`${line}\n`));
  const server = await startTemporalDevServer({ executable: cli, namespaces });
  project.provide('temporalAddress', server.address);
  return () => server.stop();
}
