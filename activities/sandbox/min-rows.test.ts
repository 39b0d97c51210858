import { describe, expect, it } from 'vitest';
import { testDocker } from '../../test/support/docker-images.ts';
import { containerConfig, DEFAULT_MIN_ROWS, runSandboxed, type SandboxSpec } from './run-container.ts';

const spec: SandboxSpec = {
  image: 'parley-test/none',
  runId: 'test-min-rows-1',
  step: 'analyse',
  org: 'stat-min-north',
  participants: ['stat-min-north'],
  args: {},
  volumeName: 'unused',
  inputDir: '/nonexistent/input',
  socketPath: '/nonexistent/node.sock',
};

describe('the disclosure threshold in the sandbox', () => {
  it('reaches the container as PARLEY_MIN_ROWS, the site\'s value or 10', () => {
    expect(containerConfig({ ...spec, minRows: 25 }).Env).toContain('PARLEY_MIN_ROWS=25');
    expect(DEFAULT_MIN_ROWS).toBe(10);
    expect(containerConfig(spec).Env).toContain('PARLEY_MIN_ROWS=10');
  });

  it('refuses a threshold that is not a whole number of at least 1, before touching the engine', async () => {
    // The image does not exist: had the spec reached the engine, it would say so instead.
    const docker = testDocker();
    for (const minRows of [0, -3, 2.5]) {
      await expect(runSandboxed(docker, { ...spec, minRows })).rejects.toThrow(/minRows must be a whole number of at least 1/);
    }
  });
});
