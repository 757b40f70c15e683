// What `warden check` cannot see offline, and the inputs that close it: --old (UPDATE) and
// --namespace-labels, plus the warden-object CRD validation as `warden check` reports it.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { InputError } from "../input.ts";
import { parseNamespaceLabels, run } from "./check.ts";

async function check(argv: string[], stdin = "", files: Record<string, string> = {}) {
  let stdout = "";
  let stderr = "";
  const { mkdtempSync, writeFileSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const dir = mkdtempSync(join(tmpdir(), "warden-offline-"));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  const code = await run(
    argv.map((a) => (a.startsWith("@") ? join(dir, a.slice(1)) : a)),
    { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s), readStdin: () => stdin },
  );
  return { code, stdout, stderr, json: () => JSON.parse(stdout) };
}

const enclave = {
  apiVersion: "warden.dev/v1alpha1",
  kind: "AgentEnclave",
  metadata: { name: "research" },
  spec: {},
};
const identity = (name: string) => ({
  apiVersion: "warden.dev/v1alpha1",
  kind: "AgentIdentity",
  metadata: { name },
  spec: { enclave: "research", agentType: "chat" },
});
const pod = (agent: string) => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: {
    name: "bot-0",
    labels: { "warden.dev/agent": agent, "warden.dev/agent-type": "chat", "warden.dev/enclave": "research" },
  },
  spec: {
    serviceAccountName: agent,
    automountServiceAccountToken: false,
    securityContext: { runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } },
    containers: [
      {
        name: "bot",
        image: "bot:1",
        securityContext: {
          readOnlyRootFilesystem: true,
          allowPrivilegeEscalation: false,
          capabilities: { drop: ["ALL"] },
        },
      },
    ],
  },
});
const yaml = (...objs: unknown[]) => objs.map((o) => stringify(o)).join("---\n");
const ids = (r: { notChecked: { id: string }[] }) => r.notChecked.map((l) => l.id);
const rules = (r: { findings: { rule: string }[] }) => r.findings.map((f) => f.rule);

describe("offline limits are reported, and the inputs that close them work", () => {
  it("every report lists what was not checked (text, JSON, SARIF)", async () => {
    const input = yaml(enclave, identity("bot"));
    const text = await check(["-"], input);
    expect(text.stdout).toContain("not checked offline (docs/ci-usage.md#what-warden-check-cannot-see):");
    expect(text.stdout).toContain("UPDATE comparisons with the stored objects: give --old");
    const json = (await check(["-o", "json", "-"], input)).json();
    expect(ids(json)).toEqual([
      "offline.update",
      "offline.namespaceLabels",
      "offline.clusterObjects",
      "offline.apiServer",
    ]);
    const sarif = (await check(["-o", "sarif", "-"], input)).json();
    expect(
      sarif.runs[0].invocations[0].toolExecutionNotifications.map(
        (n: { descriptor: { id: string } }) => n.descriptor.id,
      ),
    ).toEqual(ids(json));
  });

  it("--old: a changed identity label is an UPDATE finding (agent.immutableLabels), unseen without it", async () => {
    const before = pod("bot");
    const after = pod("bot");
    after.metadata.labels["warden.dev/agent"] = "other";
    after.spec.serviceAccountName = "other";
    const input = yaml(enclave, identity("bot"), identity("other"), after);
    const asCreate = (await check(["-o", "json", "-"], input)).json();
    expect(rules(asCreate)).not.toContain("agent.immutableLabels");
    expect(ids(asCreate)).toContain("offline.update");
    const asUpdate = (
      await check(["-o", "json", "--old", "@old.yaml", "-"], input, { "old.yaml": yaml(before) })
    ).json();
    expect(rules(asUpdate)).toContain("agent.immutableLabels");
    expect(ids(asUpdate)).not.toContain("offline.update");
  });

  it("--old: CRD validation ratchets an unchanged invalid value, as the API server does on UPDATE", async () => {
    const stored = identity("bot");
    (stored.spec as Record<string, unknown>).svid = { ttl: "1m" };
    const edited = structuredClone(stored);
    (edited.spec as Record<string, unknown>).agentType = "chat-v2";
    const input = yaml(enclave, edited);
    expect(rules((await check(["-o", "json", "-"], input)).json())).toEqual(["crd.rule"]);
    expect(
      rules(
        (await check(["-o", "json", "--old", "@old.yaml", "-"], input, { "old.yaml": yaml(stored) })).json(),
      ),
    ).toEqual([]);
  });

  it("--namespace-labels: the operator's enclave label makes a namespace an enclave without an AgentEnclave in the input", async () => {
    const plainPod = pod("bot");
    plainPod.metadata.labels = {} as typeof plainPod.metadata.labels;
    const input = yaml(plainPod);
    const unlabelled = (await check(["-n", "team-a", "-o", "json", "-"], input)).json();
    expect(unlabelled.checked).toBe(0);
    expect(ids(unlabelled)).toContain("offline.namespaceLabels");
    const labelled = (
      await check(
        ["-n", "team-a", "--namespace-labels", "team-a:warden.dev/enclave=research", "-o", "json", "-"],
        input,
      )
    ).json();
    expect(rules(labelled)).toContain("enclave.podKind");
    expect(ids(labelled)).not.toContain("offline.namespaceLabels");
  });

  it("warden objects the API server refuses get crd.* findings only (the webhook never sees them)", async () => {
    const bad = identity("bot");
    (bad.spec as Record<string, unknown>).svid = { ttl: "48h" };
    (bad.spec as Record<string, unknown>).enclave = "elsewhere"; // would be identity.enclave, but the API server refuses first
    const r = await check(["-o", "json", "-"], yaml(enclave, bad));
    expect(r.code).toBe(1);
    expect(r.json().findings.map((f: { rule: string; path: string }) => `${f.rule} ${f.path}`)).toEqual([
      "crd.rule spec.svid.ttl",
    ]);
    const v1beta1 = { ...identity("bot"), apiVersion: "warden.dev/v1beta1" };
    expect(rules((await check(["-o", "json", "-"], yaml(v1beta1))).json())).toEqual(["crd.schema"]);
    const noKind = { ...identity("bot"), kind: "AgentIdentities" };
    expect(rules((await check(["-o", "json", "-"], yaml(noKind))).json())).toEqual(["crd.schema"]);
  });
});

describe("--namespace-labels parsing", () => {
  const table: { arg: string; want: Record<string, Record<string, string>> | "error" }[] = [
    { arg: "warden.dev/enclave=research", want: { default: { "warden.dev/enclave": "research" } } },
    { arg: "team-a:warden.dev/enclave=research", want: { "team-a": { "warden.dev/enclave": "research" } } },
    { arg: "team-a:a=1,b=2", want: { "team-a": { a: "1", b: "2" } } },
    { arg: "a=", want: { default: { a: "" } } },
    { arg: "team-a:", want: "error" },
    { arg: "noequals", want: "error" },
    { arg: "=value", want: "error" },
    { arg: "a=1,,b=2", want: "error" },
  ];
  for (const row of table) {
    it(`${JSON.stringify(row.arg)} → ${row.want === "error" ? "usage error" : JSON.stringify(row.want)}`, () => {
      if (row.want === "error") expect(() => parseNamespaceLabels([row.arg], "default")).toThrow(InputError);
      else expect(Object.fromEntries(parseNamespaceLabels([row.arg], "default"))).toEqual(row.want);
    });
  }
  it("any string either parses or is a usage error naming the flag (never another exception)", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 60 }), (s) => {
        try {
          parseNamespaceLabels([s], "default");
        } catch (e) {
          expect(e).toBeInstanceOf(InputError);
          expect((e as Error).message).toContain("--namespace-labels");
        }
      }),
      { numRuns: 200 },
    );
  });
});
