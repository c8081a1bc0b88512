import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['**/test/**/*.test.ts'],
    exclude: ['**/node_modules/**', '.data/**'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Each test file gets its own database, so files may run side by side.
    fileParallelism: true,
    maxWorkers: 2,
    pool: 'forks',
  },
});
