// The official MCP conformance suite (@modelcontextprotocol/conformance, server mode) against the
// official reference server (@modelcontextprotocol/server-everything), run twice: directly, and
// through the outbound gateway → mTLS → inbound gateway with everything granted (all its tools,
// resources "*", prompts "*", completion, logging, sampling/elicitation/roots). The gateways must
// be transparent to a conforming peer: the checks that pass through them are exactly the checks
// that pass directly. Both lists are printed for the record.
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { applyPolicy, type Everything, nodeBin, startEverything } from "../fixtures/gateway/everything.ts";
import { type Harness, startHarness } from "../fixtures/gateway/harness.ts";
import { run } from "../support/process.ts";

const root = join(import.meta.dirname, "..", "..");
const conformance = join(root, "node_modules", "@modelcontextprotocol", "conformance", "dist", "index.js");

/**
 * Tools the suite's scenarios call by name. Everything granted means these too: whether the
 * server has them is the server's answer to give (server-everything answers some with an isError
 * result the suite accepts), not the gateway's.
 */
const SUITE_TOOLS = [
  "test_simple_text",
  "test_image_content",
  "test_audio_content",
  "test_embedded_resource",
  "test_multiple_content_types",
  "test_tool_with_logging",
  "test_error_handling",
  "test_tool_with_progress",
  "test_sampling",
  "test_elicitation",
  "test_elicitation_sep1034_defaults",
  "test_elicitation_sep1330_enums",
];

const REBINDING_REJECTED = "dns-rebinding-protection/localhost-host-rebinding-rejected";

let h: Harness;
let everything: Everything;
let direct = "";

beforeAll(async () => {
  h = await startHarness();
  everything = await startEverything(h);
  direct = everything.direct;
  const outboundPolicy = structuredClone(h.policy);
  outboundPolicy.version = "v-everything";
  const server = everything.server("everything", {
    resources: { uriPatterns: ["*"], subscribe: true },
    prompts: ["*"],
    completion: true,
    logging: true,
    clientFeatures: { sampling: true, elicitation: true, roots: true },
  });
  const names = new Set(server.tools.map((t) => t.name));
  for (const name of SUITE_TOOLS)
    if (!names.has(name)) server.tools.push({ name, risk: "Low", arguments: [] });
  outboundPolicy.servers.push(server);
  await applyPolicy(h, outboundPolicy);
});

afterAll(async () => {
  await everything?.close();
  await h?.close();
});

/** Runs the suite against `url`; returns "scenario/check" for every check that succeeded. */
async function passes(url: string): Promise<{ passed: string[]; all: string[] }> {
  const out = mkdtempSync(join(tmpdir(), "warden-conformance-"));
  const r = await run(nodeBin, [conformance, "server", "--url", url, "-o", out], { timeoutMs: 600_000 });
  console.error(`[conformance] results for ${url} in ${out}`);
  expect(r.stdout).toContain("=== SUMMARY ===");
  const passed: string[] = [];
  const all: string[] = [];
  for (const dir of readdirSync(out)) {
    const scenario = dir.replace(/^server-/, "").replace(/-\d{4}-\d{2}-\d{2}T.*$/, "");
    const checks = JSON.parse(readFileSync(join(out, dir, "checks.json"), "utf8")) as {
      id: string;
      status: string;
    }[];
    for (const c of checks) {
      all.push(`${scenario}/${c.id}`);
      if (c.status === "SUCCESS") passed.push(`${scenario}/${c.id}`);
    }
  }
  return { passed: passed.sort(), all: all.sort() };
}

describe("MCP conformance: server-everything directly and through both gateways", () => {
  it("passes exactly the same checks through the gateways as directly", async () => {
    const viaDirect = await passes(direct);
    const viaGateways = await passes(h.route("everything"));
    console.error(
      `[conformance] direct: ${viaDirect.passed.length}/${viaDirect.all.length} checks passed: ${viaDirect.passed.join(", ")}`,
    );
    console.error(
      `[conformance] through the gateways: ${viaGateways.passed.length}/${viaGateways.all.length} checks passed: ${viaGateways.passed.join(", ")}`,
    );
    expect(viaDirect.passed.length).toBeGreaterThan(0);
    // The one allowed difference: the outbound gateway rejects a rebinding Host itself, so that
    // check passes through the gateways whether or not the server behind them does it.
    const others = (xs: string[]) => xs.filter((x) => x !== REBINDING_REJECTED);
    expect(others(viaGateways.passed)).toEqual(others(viaDirect.passed));
    expect(viaGateways.passed).toContain(REBINDING_REJECTED);
  });
});
