import { defineConfig } from 'vitest/config';

// The fault suite (test/faults/): it starts its own Temporal server, API, coordinator and site
// workers as processes and kills them, so it runs alone — one file, no shared dev server — after
// `npm test` (`npm run test:faults`; .ci/run runs both).
export default defineConfig({
  test: {
    pool: 'forks',
    include: ['test/faults/**/*.test.ts'],
    testTimeout: 240_000,
    hookTimeout: 300_000,
    fileParallelism: false,
    maxWorkers: 1,
  },
});
