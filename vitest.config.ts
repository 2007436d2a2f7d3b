// Two projects: fast unit tests (no sockets, no child processes) and integration tests with real peers.
// Both run test/setup/fail-on-unhandled.ts: an unhandled rejection fails the test it happened in.
import { defineConfig } from 'vitest/config';

const setupFiles = ['test/setup/fail-on-unhandled.ts'];

export default defineConfig({
  test: {
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'], testTimeout: 20_000, setupFiles } },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          setupFiles,
          testTimeout: 180_000,
          hookTimeout: 120_000,
          // Integration tests start daemons and peers on ephemeral ports; keep the 2-core machine calm.
          fileParallelism: false,
        },
      },
    ],
  },
});
