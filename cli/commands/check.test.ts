import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { run } from "./check.ts";

const FIX = "test/fixtures/admission";
const CTX = [
  "-n",
  "team-a",
  "-c",
  join(FIX, "context"),
  "--sidecar-config",
  join(FIX, "sidecar-config.yaml"),
];

async function check(argv: string[], stdin = "") {
  let stdout = "";
  let stderr = "";
  const code = await run(argv, {
    stdout: (s) => (stdout += s),
    stderr: (s) => (stderr += s),
    readStdin: () => stdin,
  });
  return { code, stdout, stderr };
}

describe("warden check", () => {
  it("exit 0 on compliant input, 1 on findings; text names file:line, document, object, rule, path and fix", async () => {
    expect((await check([...CTX, "--mutate", join(FIX, "manifests/01-compliant-pod.yaml")])).code).toBe(0);
    const r = await check([...CTX, join(FIX, "manifests/31-writable-rootfs-deployment.yaml")]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(
      /31-writable-rootfs-deployment\.yaml:\d+:\d+: document 0 Deployment\/researcher: \[container\.readOnlyRootFilesystem\] spec\.template\.spec\.containers\[1\]\.securityContext\.readOnlyRootFilesystem: /,
    );
    expect(r.stdout).toContain(
      "    fix: set spec.template.spec.containers[1].securityContext.readOnlyRootFilesystem: true",
    );
  });

  it("without --mutate an agent Pod lacks the gateway; with it, it is injected first", async () => {
    const file = join(FIX, "manifests/01-compliant-pod.yaml");
    const plain = await check([...CTX, "-o", "json", file]);
    expect(plain.code).toBe(1);
    expect(JSON.parse(plain.stdout).findings.map((f: { rule: string }) => f.rule)).toEqual([
      "gateway.present",
    ]);
  });

  it("reads helm template output on stdin, with context objects from the same stream", async () => {
    const docs = [
      { apiVersion: "warden.dev/v1alpha1", kind: "AgentEnclave", metadata: { name: "research" }, spec: {} },
      {
        apiVersion: "warden.dev/v1alpha1",
        kind: "AgentIdentity",
        metadata: { name: "bot" },
        spec: { enclave: "research", agentType: "chat" },
      },
      {
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: { name: "bot" },
        spec: {
          selector: { matchLabels: { app: "bot" } },
          template: {
            metadata: {
              labels: {
                app: "bot",
                "warden.dev/agent": "bot",
                "warden.dev/agent-type": "chat",
                "warden.dev/enclave": "research",
              },
            },
            spec: {
              serviceAccountName: "bot",
              automountServiceAccountToken: false,
              securityContext: { runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } },
              containers: [
                {
                  name: "bot",
                  image: "bot:1",
                  securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
                },
              ],
            },
          },
        },
      },
    ];
    const stream = `---\n# Source: bot/templates/enclave.yaml\n${docs.map((d) => stringify(d)).join("---\n# Source: bot/templates/x.yaml\n")}`;
    const r = await check(["-o", "json", "-"], stream);
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout);
    expect(out.findings).toEqual([
      expect.objectContaining({
        file: "-",
        document: 2,
        kind: "Deployment",
        name: "bot",
        namespace: "default",
        rule: "container.readOnlyRootFilesystem",
        path: "spec.template.spec.containers[0].securityContext.readOnlyRootFilesystem",
      }),
    ]);
    expect(out.findings[0].line).toBeGreaterThan(10);
  });

  it("--restricted: hardening rules for every pod and template, agent or not; token rules stay agent-only", async () => {
    const deploy = {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "web", namespace: "plain" },
      spec: {
        template: {
          metadata: { labels: { app: "web" } },
          spec: {
            hostNetwork: true,
            securityContext: { runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } },
            containers: [
              {
                name: "web",
                image: "nginx:1.27",
                securityContext: {
                  readOnlyRootFilesystem: true,
                  allowPrivilegeEscalation: false,
                  capabilities: { drop: ["ALL"] },
                },
              },
            ],
          },
        },
      },
    };
    const cm = { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "x", namespace: "plain" } };
    const input = stringify(deploy) + "---\n" + stringify(cm);
    const plain = await check([...CTX, "-o", "json", "-"], input);
    expect(plain.code).toBe(0);
    expect(JSON.parse(plain.stdout)).toMatchObject({ objects: 2, checked: 0 });
    const restricted = await check([...CTX, "--restricted", "-o", "json", "-"], input);
    expect(restricted.code).toBe(1);
    const r = JSON.parse(restricted.stdout);
    expect(r).toMatchObject({ objects: 2, checked: 1 });
    // automountServiceAccountToken is unset but pod.automountToken is not a restricted rule.
    expect(r.findings.map((f: { rule: string; path: string }) => `${f.rule} ${f.path}`)).toEqual([
      "pod.hostNamespaces spec.template.spec.hostNetwork",
    ]);
    deploy.spec.template.spec.hostNetwork = false;
    const fixed = await check([...CTX, "--restricted", "-o", "json", "-"], stringify(deploy));
    expect(fixed.code).toBe(0);
    expect(JSON.parse(fixed.stdout)).toMatchObject({ objects: 1, checked: 1, findings: [] });
  });

  it("SARIF 2.1.0 with rule ids and file/line locations", async () => {
    const r = await check([...CTX, "-o", "sarif", join(FIX, "manifests/52-kitchen-sink-deployment.yaml")]);
    expect(r.code).toBe(1);
    const sarif = JSON.parse(r.stdout);
    expect(sarif.version).toBe("2.1.0");
    const run0 = sarif.runs[0];
    expect(run0.tool.driver.name).toBe("warden");
    const ids = run0.tool.driver.rules.map((x: { id: string }) => x.id);
    expect(ids).toContain("pod.hostNamespaces");
    for (const res of run0.results) {
      expect(ids[res.ruleIndex]).toBe(res.ruleId);
      expect(res.locations[0].physicalLocation.artifactLocation.uri).toBe(
        join(FIX, "manifests/52-kitchen-sink-deployment.yaml"),
      );
      expect(res.locations[0].physicalLocation.region.startLine).toBeGreaterThan(0);
    }
    const hostNet = run0.results.find((x: { ruleId: string }) => x.ruleId === "pod.hostNamespaces");
    const lines = readFileSync(join(FIX, "manifests/52-kitchen-sink-deployment.yaml"), "utf8").split("\n");
    expect(lines[hostNet.locations[0].physicalLocation.region.startLine - 1]).toMatch(/hostNetwork: true/);
  });

  it("walks directories and reports waived findings", async () => {
    // The context's exemption windows are around this time (exemptions last at most 30 days).
    const r = await check([
      ...CTX,
      "--now",
      "2026-06-01T12:00:00Z",
      "--mutate",
      "-o",
      "json",
      join(FIX, "manifests"),
    ]);
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout);
    expect(out.objects).toBeGreaterThanOrEqual(40);
    expect(out.waived).toEqual([
      expect.objectContaining({ rule: "container.readOnlyRootFilesystem", exemption: "legacy-writable-fs" }),
    ]);
  });

  it("exit 2: unreadable file, invalid YAML, scalar document, bad flags, no input", async () => {
    const dir = mkdtempSync(join(tmpdir(), "warden-check-"));
    writeFileSync(join(dir, "bad.yaml"), "kind: Pod\nmetadata: [unclosed\n");
    writeFileSync(join(dir, "scalar.yaml"), "just a string\n");
    const missing = await check([join(dir, "nope.yaml")]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("nope.yaml: cannot read: ENOENT");
    const bad = await check([join(dir, "bad.yaml")]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/bad\.yaml: document 0 .*not valid YAML/);
    expect((await check([join(dir, "scalar.yaml")])).stderr).toMatch(/expected a Kubernetes object/);
    expect((await check(["--output", "xml", dir])).code).toBe(2);
    expect((await check(["--frobnicate", dir])).code).toBe(2);
    expect((await check([])).code).toBe(2);
    expect((await check(["--now", "yesterday", dir])).code).toBe(2);
  });
});
