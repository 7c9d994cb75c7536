import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/globalSetup.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Two cores: one worker per core keeps Azurite (in the main process) responsive.
    maxWorkers: 2,
  },
});
