import {defineConfig} from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.{ts,tsx}'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    // Two cores: engine-backed tests are heavy, so files run with bounded parallelism.
    maxWorkers: 2,
  },
});
