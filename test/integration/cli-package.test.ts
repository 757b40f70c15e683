// The published CLI, as a user gets it: `npm pack` the package, install the tarball into an empty
// directory outside this repository (offline: everything is bundled), and run `warden check`,
// `warden audit verify` and `warden authz` there through npx on the machine's Node (20 here) and
// on Node 24. Each command must give exactly what the same command gives from this checkout.
import { cpSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import type { GatewayPolicy } from "../../api/v1alpha1/policy.ts";
import { provenance } from "../../cli/provenance.ts";
import type { DecisionFields } from "../../gateway/audit/chain.ts";
import { AuditWriter } from "../../gateway/audit/writer.ts";
import { issueFor, testCA } from "../../lib/identity/testing.ts";
import {
  cleanEnv,
  installCli,
  type NodeRuntime,
  nodeRuntimes,
  type PackedCli,
  packCli,
  ROOT,
} from "../support/cli-package.ts";
import { type CommandResult, run } from "../support/process.ts";

/** Inputs every run reads, by the same relative paths in the repository run and the package run. */
function writeInputs(dir: string, audit: { log: string; bundle: string }) {
  cpSync(join(ROOT, "test/fixtures/admission"), join(dir, "fixtures"), { recursive: true });
  writeFileSync(join(dir, "audit.jsonl"), audit.log);
  const lines = audit.log.trimEnd().split("\n");
  lines[1] = lines[1]!.replace('"allow"', '"deny"');
  writeFileSync(join(dir, "tampered.jsonl"), `${lines.join("\n")}\n`);
  writeFileSync(join(dir, "ca.pem"), audit.bundle);
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
          {
            name: "fetch",
            risk: "Low",
            arguments: [{ argument: "url", hostAllowlist: ["docs.example.com"] }],
          },
        ],
      },
    ],
  };
  writeFileSync(join(dir, "policy.json"), JSON.stringify(policy));
}

async function auditLog(dir: string): Promise<{ log: string; bundle: string }> {
  const ca = await testCA("example.org");
  const svid = await issueFor(ca, "spiffe://example.org/ns/a/sa/agent");
  const file = join(dir, "audit.jsonl");
  const w = new AuditWriter({
    file,
    signer: () => ({ spiffeID: svid.spiffeID, keyPem: svid.keyPem, certChainPem: svid.chainPem }),
    checkpointEvery: 3,
  });
  await w.open();
  for (let i = 0; i < 7; i++) {
    const f: DecisionFields = {
      time: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
      agent: "spiffe://example.org/ns/a/sa/agent",
      taskId: null,
      manifest: "web",
      method: "tools/call",
      tool: "fetch",
      argsHash: null,
      args: { url: `https://docs.example.com/${i}` },
      decision: "allow",
      rule: "Granted",
      latencyMs: 1,
      upstreamStatus: 200,
      traceId: null,
    };
    expect(w.append(f)).toBe(true);
  }
  await w.close();
  return { log: readFileSync(file, "utf8"), bundle: ca.certPem };
}

const CHECK = [
  "check",
  "-n",
  "team-a",
  "-c",
  "fixtures/context",
  "--sidecar-config",
  "fixtures/sidecar-config.yaml",
  "--now",
  "2026-06-01T00:00:00Z",
];

/** Commands run both ways, with what each must do (so "both the same" cannot mean "both broken"). */
const COMMANDS: { what: string; args: string[]; code: number; stdout: RegExp }[] = [
  {
    what: "check a directory, text",
    args: [...CHECK, "--mutate", "fixtures/manifests"],
    code: 1,
    stdout: /\[container\.readOnlyRootFilesystem\][\s\S]*finding\(s\) in \d+ checked object/,
  },
  {
    what: "check a directory, JSON",
    args: [...CHECK, "-o", "json", "fixtures/manifests"],
    code: 1,
    stdout: /"rule": "gateway\.present"/,
  },
  {
    what: "check, SARIF",
    args: [...CHECK, "--mutate", "-o", "sarif", "fixtures/manifests"],
    code: 1,
    stdout: /"version": "2\.1\.0"/,
  },
  {
    what: "check a compliant manifest from stdin",
    args: [...CHECK, "--mutate", "-"],
    code: 0,
    stdout: /^0 finding\(s\) in 1 checked object\(s\) of 1/m,
  },
  {
    what: "check with a usage error",
    args: ["check", "--output", "xml", "x.yaml"],
    code: 2,
    stdout: /^$/,
  },
  {
    what: "audit verify, intact and signed",
    args: ["audit", "verify", "audit.jsonl", "--bundle", "ca.pem"],
    code: 0,
    stdout: /^OK: 7 records, 3 checkpoints, signed through record 7/m,
  },
  {
    what: "audit verify, edited record",
    args: ["audit", "verify", "tampered.jsonl", "--bundle", "ca.pem", "--json"],
    code: 1,
    stdout: /"kind": "EditedRecord"/,
  },
  {
    what: "authz, allowed call",
    args: [
      "authz",
      "--policy",
      "policy.json",
      "--server",
      "web",
      "--tool",
      "fetch",
      "--args",
      '{"url":"https://docs.example.com/a"}',
    ],
    code: 0,
    stdout: /^ALLOW: web\/fetch/,
  },
  {
    what: "authz, argument outside the allowlist",
    args: [
      "authz",
      "--policy",
      "policy.json",
      "--server",
      "web",
      "--tool",
      "fetch",
      "--args",
      '{"url":"https://evil.example/a"}',
      "--json",
    ],
    code: 1,
    stdout: /"decision": "deny"/,
  },
];

// npm and Node start-up on a busy two-core machine: wait as long as it takes (no speed assumed).
const SLOW = 900_000;

describe("the packed CLI package", { timeout: SLOW }, () => {
  let packed: PackedCli;
  let runtimes: NodeRuntime[];
  let inputs: { log: string; bundle: string };
  const repoDir = mkdtempSync(join(tmpdir(), "warden-repo-run-"));
  const repo = new Map<string, CommandResult>();

  beforeAll(async () => {
    packed = await packCli();
    runtimes = nodeRuntimes();
    inputs = await auditLog(mkdtempSync(join(tmpdir(), "warden-audit-")));
    writeInputs(repoDir, inputs);
    writeFileSync(
      join(repoDir, "compliant.yaml"),
      readFileSync(join(ROOT, "test/fixtures/admission/manifests/01-compliant-pod.yaml")),
    );
    for (const c of COMMANDS) {
      const stdin = readFileSync(join(repoDir, "compliant.yaml"), "utf8");
      repo.set(
        c.what,
        await run(process.execPath, [join(ROOT, "cli", "warden.ts"), ...c.args], {
          cwd: repoDir,
          input: c.args.includes("-") ? stdin : "",
        }),
      );
    }
  }, SLOW);

  it("holds the bundle, its notices and package.json only, and is small", () => {
    expect(packed.files).toEqual([
      "README.md",
      "dist/THIRD-PARTY-NOTICES.txt",
      "dist/warden.js",
      "package.json",
    ]);
    const manifest = JSON.parse(readFileSync(join(ROOT, "packages/cli/package.json"), "utf8")) as {
      dependencies?: unknown;
      bin: Record<string, string>;
      engines: { node: string };
    };
    expect(manifest.dependencies).toBeUndefined();
    expect(manifest.bin).toEqual({ warden: "dist/warden.js" });
    expect(manifest.engines.node).toBe(">=20");
    // Size is a property of the build, not of the machine: a bundled CLI well under 1 MiB packed.
    expect(packed.size).toBeLessThan(1 << 20);
    console.log(
      `[cli-package] ${packed.tarball}: ${(packed.size / 1024).toFixed(0)} KiB packed, ${(packed.unpackedSize / 1024).toFixed(0)} KiB unpacked`,
    );
  });

  for (const label of ["machine", "project"]) {
    describe(`installed in an empty directory, on the ${label} Node`, () => {
      let dir: string;
      let rt: NodeRuntime;

      beforeAll(async () => {
        rt = runtimes.find((r) => r.label === label)!;
        dir = (await installCli(packed, rt)).dir;
        writeInputs(dir, inputs);
        writeFileSync(join(dir, "compliant.yaml"), readFileSync(join(repoDir, "compliant.yaml")));
      }, SLOW);

      it("installs only the CLI itself (no dependency tree), with node_modules/.bin/warden", () => {
        expect(Number(rt.version.match(/^v(\d+)/)?.[1])).toBeGreaterThanOrEqual(20);
        expect(readdirSync(join(dir, "node_modules")).filter((f) => !f.startsWith("."))).toEqual([
          "@agent-warden",
        ]);
        expect(readdirSync(join(dir, "node_modules", ".bin"))).toEqual(["warden"]);
      });

      it("npx warden version names the package version, rule catalog and commit of the build", async () => {
        const started = performance.now();
        const r = await run("npx", ["warden", "version"], { cwd: dir, env: cleanEnv(rt) });
        const ms = performance.now() - started;
        console.log(`[cli-package] cold npx warden version on ${rt.version}: ${ms.toFixed(0)} ms`);
        expect(r.code, r.stderr).toBe(0);
        const p = provenance();
        expect(r.stdout.split("\n").slice(0, 3)).toEqual([
          `warden ${p.packageVersion}`,
          `rule catalog ${p.catalogVersion} (${p.ruleCount} rules)`,
          `commit ${p.commit}`,
        ]);
        expect(r.stdout).toContain(`node ${rt.version}, packaged build`);
      });

      for (const c of COMMANDS) {
        it(`npx warden ${c.what}: same result as in the repository`, async () => {
          const stdin = readFileSync(join(dir, "compliant.yaml"), "utf8");
          const r = await run("npx", ["warden", ...c.args], {
            cwd: dir,
            env: cleanEnv(rt),
            input: c.args.includes("-") ? stdin : "",
          });
          const want = repo.get(c.what)!;
          expect(want.code, want.stderr).toBe(c.code);
          expect(want.stdout).toMatch(c.stdout);
          expect({ code: r.code, stdout: r.stdout, stderr: r.stderr }).toEqual({
            code: want.code,
            stdout: want.stdout,
            stderr: want.stderr,
          });
        });
      }
    });
  }
});
