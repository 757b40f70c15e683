import { defineConfig } from "vitest/config";

// Two projects: unit tests sit beside the code; integration/e2e tests under test/ share one real
// kube-apiserver started (or reused) by the global setup.
export default defineConfig({
  test: {
    reporters: ["default", "./test/support/summary-reporter.ts"],
    projects: [
      {
        test: {
          name: "unit",
          // Unit tests first, then integration: each group gets its own worker settings.
          sequence: { groupOrder: 0 },
          include: ["{api,lib,operator,webhook,gateway,cli,scripts,bench}/**/*.test.ts"],
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: "integration",
          sequence: { groupOrder: 1 },
          include: ["test/integration/**/*.test.ts"],
          globalSetup: ["test/setup/global-setup.ts"],
          testTimeout: 120_000,
          hookTimeout: 240_000,
          // Two cores: one API server, the operator processes and the tests share them.
          maxWorkers: 2,
        },
      },
    ],
  },
});
