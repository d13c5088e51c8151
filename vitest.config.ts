import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    // The Docker engine's tests run on their own: npm run test:docker (vitest.docker.config.ts).
    exclude: ['tests/docker/**', '**/node_modules/**'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Integration and e2e tests share one Postgres; each names its own rows, so files may run in parallel.
    pool: 'forks',
  },
});
