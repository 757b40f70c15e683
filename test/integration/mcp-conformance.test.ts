// The official MCP conformance suite (@modelcontextprotocol/conformance, server mode) against the
// official reference server (@modelcontextprotocol/server-everything), run twice: directly, and
// through the outbound gateway → mTLS → inbound gateway with everything granted (all its tools,
// resources "*", prompts "*", completion, logging, sampling/elicitation/roots). The gateways must
// be transparent to a conforming peer: the checks that pass through them are exactly the checks
// that pass directly. Both lists are printed for the record.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { InboundPolicy } from "../../api/v1alpha1/policy.ts";
import { parseConfig } from "../../gateway/config.ts";
import { type RunningGateway, startGateway } from "../../gateway/server.ts";
import { createLogger } from "../../lib/log.ts";
import {
  AGENT_ID,
  type Harness,
  SERVER_ID,
  startHarness,
  TRUST_DOMAIN,
  writeMounted,
} from "../fixtures/gateway/harness.ts";
import { freePort, run } from "../support/process.ts";

const root = join(import.meta.dirname, "..", "..");
const nodeBin = join(root, "node_modules", ".bin", "node");
const conformance = join(root, "node_modules", "@modelcontextprotocol", "conformance", "dist", "index.js");
const everything = join(
  root,
  "node_modules",
  "@modelcontextprotocol",
  "server-everything",
  "dist",
  "index.js",
);

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
let server: ChildProcess | undefined;
let inbound: RunningGateway;
let direct = "";
const tools: string[] = [];

beforeAll(async () => {
  const port = await freePort();
  direct = `http://127.0.0.1:${port}/mcp`;
  server = spawn(nodeBin, [everything, "streamableHttp"], {
    env: { ...process.env, PORT: String(port) },
    stdio: ["ignore", "ignore", "pipe"],
  });
  await new Promise<void>((resolve, reject) => {
    let err = "";
    server!.stderr!.on("data", (d: Buffer) => {
      err += d.toString();
      if (err.includes("listening on port")) resolve();
    });
    server!.once("exit", (code) => reject(new Error(`server-everything exited (${code}): ${err}`)));
  });
  // server-everything offers some tools only to clients that can answer sampling/elicitation/roots
  // (as the conformance client declares): list them as such a client, every page.
  const c = new Client(
    { name: "lister", version: "1" },
    { capabilities: { sampling: {}, elicitation: {}, roots: {} } },
  );
  await c.connect(new StreamableHTTPClientTransport(new URL(direct)));
  let cursor: string | undefined;
  for (let page = 0; page < 20; page++) {
    const r = await c.listTools(cursor ? { cursor } : {});
    tools.push(...r.tools.map((t) => t.name));
    cursor = r.nextCursor;
    if (!cursor) break;
  }
  await c.close();

  h = await startHarness();
  // An inbound gateway in front of server-everything, admitting the agent.
  const inboundDir = join(h.dir, "everything-inbound");
  const policy: InboundPolicy = {
    apiVersion: "warden.dev/v1alpha1",
    kind: "InboundPolicy",
    version: "everything-in",
    manifest: "everything",
    namespace: "tools",
    allowedCallers: [AGENT_ID],
  };
  writeMounted(inboundDir, { "policy.json": JSON.stringify(policy) });
  inbound = await startGateway(
    parseConfig({
      mode: "inbound",
      listen: "127.0.0.1:0",
      adminListen: "127.0.0.1:0",
      policyFile: join(inboundDir, "policy.json"),
      bundleFile: h.bundleFile,
      auditFile: join(h.dir, "everything-inbound-audit.jsonl"),
      svidCertFile: join(h.dir, "server-svid", "tls.crt"),
      svidKeyFile: join(h.dir, "server-svid", "tls.key"),
      upstream: `http://127.0.0.1:${port}`,
      trustDomain: TRUST_DOMAIN,
    }),
    { log: createLogger("everything-inbound", { level: "error" }) },
  );
  const outboundPolicy = structuredClone(h.policy);
  outboundPolicy.version = "v-everything";
  outboundPolicy.servers.push({
    manifest: "everything",
    endpoint: `${inbound.url}/mcp`,
    mode: "Enforce",
    serverSpiffeID: SERVER_ID,
    tools: [...new Set([...tools, ...SUITE_TOOLS])].map((name) => ({
      name,
      risk: "Low" as const,
      arguments: [],
    })),
    resources: { uriPatterns: ["*"], subscribe: true },
    prompts: ["*"],
    completion: true,
    logging: true,
    clientFeatures: { sampling: true, elicitation: true, roots: true },
  });
  h.setPolicy(outboundPolicy);
  for (let t = Date.now(); Date.now() - t < 10_000; await new Promise((r) => setTimeout(r, 50))) {
    if (
      (await (await request(`${h.outbound.adminURL}/metrics`)).body.text()).includes('version="v-everything"')
    )
      break;
  }
});

afterAll(async () => {
  await inbound?.close();
  await h?.close();
  if (server && server.exitCode === null) {
    const exited = new Promise((r) => server!.once("exit", r));
    server.kill("SIGTERM");
    await exited;
  }
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
