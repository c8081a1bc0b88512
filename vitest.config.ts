import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

const require = createRequire(import.meta.url);

export default defineConfig({
  resolve: {
    // Apollo's CommonJS code loads graphql's CJS build; ours must load the same instance.
    alias: { graphql: require.resolve('graphql') },
  },
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
