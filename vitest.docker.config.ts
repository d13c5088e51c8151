import { defineConfig } from 'vitest/config';

// The tests that run the Compose stack and the deploy under a real Docker engine
// (npm run test:docker; scripts/dev/test.sh sets the engine and the images up first).
// One file at a time: they share the engine, the host's ports 80/443 and the stack's named volumes.
export default defineConfig({
  test: {
    include: ['tests/docker/**/*.test.ts'],
    testTimeout: 20 * 60_000,
    hookTimeout: 20 * 60_000,
    pool: 'forks',
    fileParallelism: false,
  },
});
