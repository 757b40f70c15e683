// `npm run bench:profile` still runs end to end at a tiny size: both gateway processes profiled,
// their CPU per call, categories and functions printed, and `--compare` against this same tree.
// Nothing about time is asserted: the figures are not read.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const run = promisify(execFile);
const tiny = ["--calls", "16", "--connections", "2", "--warmup", "1"];

describe("bench:profile", () => {
  it("profiles the outbound and inbound gateway processes and prints where the time went", {
    timeout: 300_000,
  }, async () => {
    const { stdout } = await run(process.execPath, ["bench/gateway-profile.ts", ...tiny], {
      maxBuffer: 16 * 1024 * 1024,
      timeout: 290_000,
    });
    for (const mode of ["outbound", "inbound"]) {
      expect(stdout).toContain(`=== ${mode} gateway: 16 calls ===`);
    }
    expect(stdout).toMatch(/calls per CPU-second/);
    expect(stdout).toMatch(/category \(main thread\)/);
    expect(stdout).toMatch(/by self time/);
    expect(stdout).toMatch(/thread \(process CPU by thread name\)/);
  });

  it("compares two checkouts' gateways under the same load", { timeout: 300_000 }, async () => {
    const { stdout } = await run(
      process.execPath,
      ["bench/gateway-profile.ts", "--compare", ".", "--rounds", "1", ...tiny],
      { maxBuffer: 16 * 1024 * 1024, timeout: 290_000 },
    );
    expect(stdout).toMatch(/^outbound: baseline \d+ µs\/call .* this tree \d+ µs\/call/m);
    expect(stdout).toMatch(/^inbound: baseline \d+ µs\/call .* this tree \d+ µs\/call/m);
  });
});
