// The container image test (test/image): builds and runs the image with podman. Not part of
// `./gateway test` (it needs root and podman and takes minutes); `./gateway test-image` and .ci/run run it.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    name: 'image',
    include: ['test/image/**/*.test.ts'],
    testTimeout: 180_000,
    hookTimeout: 600_000,
    fileParallelism: false,
  },
});
