/**
 * One Temporal dev server for the whole test run (or TEMPORAL_ADDRESS when set), started with
 * the Temporal CLI Parley provisions — the SDK is never allowed to download a server.
 * Tests read its address with `inject('temporalAddress')`.
 */
import type { TestProject } from 'vitest/node';
import { startTemporalDevServer } from '../../provision/temporal-dev-server.ts';
import { ensureTemporalCli } from '../../provision/temporal-cli.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
  }
}

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  if (process.env.TEMPORAL_ADDRESS) {
    project.provide('temporalAddress', process.env.TEMPORAL_ADDRESS);
    return undefined;
  }
  const cli = await ensureTemporalCli((line) => process.stderr.write(`${line}\n`));
  const server = await startTemporalDevServer({ executable: cli });
  project.provide('temporalAddress', server.address);
  return () => server.stop();
}
