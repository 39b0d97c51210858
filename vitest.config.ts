import { defineConfig } from 'vitest/config';

// Tests start real parts (Temporal dev server, Docker engine, PostgreSQL), so each file
// runs in its own forked process and the timeouts are those of real work, not of units.
export default defineConfig({
  test: {
    pool: 'forks',
    include: ['**/*.test.ts'],
    // bench/ holds benchmarks (*.bench.ts, never run as tests) and one test of the scale model's
    // arithmetic. The fault suite kills its own parts: vitest.faults.config.ts runs it (npm run test:faults).
    exclude: ['node_modules/**', 'bench/results/**', 'test/faults/**'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 180_000,
    fileParallelism: true,
    maxWorkers: 2,
  },
});
