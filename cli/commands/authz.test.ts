import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { GatewayPolicy } from "../../api/v1alpha1/policy.ts";
import { authzCommand } from "./authz.ts";

const policy: GatewayPolicy = {
  apiVersion: "warden.dev/v1alpha1",
  kind: "GatewayPolicy",
  version: "v1",
  agent: { name: "a", namespace: "n", spiffeID: "spiffe://example.org/ns/n/sa/a", suspended: false },
  taskTokens: { required: false, issuers: [] },
  servers: [
    {
      manifest: "web",
      endpoint: "https://web:15443/mcp",
      mode: "Enforce",
      tools: [
        { name: "fetch", risk: "Low", arguments: [{ argument: "url", hostAllowlist: ["docs.example.com"] }] },
      ],
    },
  ],
};
const file = join(mkdtempSync(join(tmpdir(), "warden-authz-")), "policy.json");
writeFileSync(file, JSON.stringify(policy));

function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const w = (f: (s: string) => void) => ({ write: (s: string) => f(s) });
  return authzCommand(
    args,
    w((s) => (out += s)),
    w((s) => (err += s)),
  ).then((code) => ({ code, out, err }));
}

describe("warden authz", () => {
  it("allows a granted call with valid arguments", async () => {
    const r = await run([
      "--policy",
      file,
      "--server",
      "web",
      "--tool",
      "fetch",
      "--args",
      '{"url":"https://docs.example.com/a"}',
    ]);
    expect(r).toMatchObject({ code: 0, out: "ALLOW: web/fetch\n" });
  });
  it("denies with the manifest, rule and constraint", async () => {
    const r = await run([
      "--policy",
      file,
      "--server",
      "web",
      "--tool",
      "fetch",
      "--args",
      '{"url":"https://evil.example"}',
    ]);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(
      /DENY: warden: denied by ToolManifest "web", rule ArgumentConstraint: argument url: host evil.example/,
    );
  });
  it("exits 2 on usage errors and unreadable input", async () => {
    expect((await run(["--policy", file])).code).toBe(2);
    expect((await run(["--policy", "/nonexistent", "--server", "web", "--tool", "x"])).code).toBe(2);
    expect(
      (await run(["--policy", file, "--server", "web", "--tool", "fetch", "--args", '{"a":1,"a":2}'])).code,
    ).toBe(2);
  });
});
