import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["tests/e2e/**/*.test.mjs"],
    globalSetup: ["tests/e2e/global-setup.mjs"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Each file starts its own Miniflare; two at a time suits a 2-core machine.
    maxWorkers: 2,
    fileParallelism: true,
  },
});
