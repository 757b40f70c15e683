// `npm run bench:smoke` as a test: every benchmark still runs end to end at tiny sizes and reports
// finite figures for each of its rows. No timing is asserted: the figures are not read.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const run = promisify(execFile);

describe("bench:smoke", () => {
  it("runs every benchmark at tiny sizes and prints each row", { timeout: 600_000 }, async () => {
    const { stdout } = await run(process.execPath, ["bench/run.ts", "--smoke"], {
      maxBuffer: 16 * 1024 * 1024,
      timeout: 590_000,
    });
    for (const row of [
      "audit appends",
      "audit verifies",
      "canonical JSON (parsed, canonical order)",
      "SVID issuance from a CSR (one core)",
      "issuer over HTTPS, keep-alive, 8 in flight",
      "webhook /validate p99, 16 TLS connections",
      "webhook /validate throughput, 16 TLS connections",
      "gateway tools/call p50",
      "sidecar RSS idle (outbound)",
      "sidecar RSS peak, 16 connections (outbound)",
      "sidecar RSS steady state, 16 connections (inbound)",
      "operator: 20 AgentIdentities → Ready",
    ])
      expect(stdout).toContain(`${row}:`);
  });
});
