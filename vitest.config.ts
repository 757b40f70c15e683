import { defineConfig } from "vitest/config";

// Three projects, run in this order: unit tests sit beside the code; integration tests under
// test/integration share one real kube-apiserver started (or reused) by their global setup; e2e tests
// under test/e2e share one real node cluster (test/cluster/node.ts) started by theirs.
export default defineConfig({
  test: {
    reporters: ["default", "./test/support/summary-reporter.ts"],
    projects: [
      {
        test: {
          name: "unit",
          // Unit tests first, then integration: each group gets its own worker settings.
          sequence: { groupOrder: 0 },
          include: [
            "{api,lib,operator,webhook,gateway,cli,scripts,bench,demo}/**/*.test.ts",
            "test/cluster/**/*.test.ts",
          ],
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
      {
        test: {
          name: "e2e",
          sequence: { groupOrder: 2 },
          include: ["test/e2e/**/*.test.ts"],
          globalSetup: ["test/setup/e2e-setup.ts"],
          // Pods start on a node that shares two cores with everything else: wait on conditions,
          // with room for a loaded machine.
          testTimeout: 600_000,
          hookTimeout: 1_200_000,
          maxWorkers: 2,
        },
      },
    ],
  },
});
