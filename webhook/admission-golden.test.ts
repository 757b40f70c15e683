// Golden test: one fixture set (test/fixtures/admission), two paths through the rule engine.
// `warden check --mutate` and the real HTTPS webhook server (fed AdmissionReviews: /mutate where
// the mutating webhook's selectors would call it, then /validate) must give identical verdicts, and
// both must equal the reviewed expected verdict files.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Registry } from "prom-client";
import { Agent, fetch } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { run } from "../cli/commands/check.ts";
import { parseText, readInputs } from "../cli/input.ts";
import { createRootCA } from "../lib/identity/ca.ts";
import { issueServingCert } from "../lib/identity/serving-cert.ts";
import { createLogger } from "../lib/log.ts";
import { type ContextSource, StaticContextSource } from "./context.ts";
import { engineSettings } from "./evaluate.ts";
import { applyPatch, type PatchOp } from "./jsonpatch.ts";
import { startWebhookServer, type WebhookServer } from "./server.ts";
import { sidecarConfig } from "./sidecar-config.ts";

const ROOT = "test/fixtures/admission";
const NS = "team-a";
/** Both paths evaluate exemptions at this time (the context's exemption windows are around it). */
const NOW = "2026-06-01T12:00:00Z";
const cfg = sidecarConfig.parse(parse(readFileSync(join(ROOT, "sidecar-config.yaml"), "utf8")));
const files = readdirSync(join(ROOT, "manifests")).sort();
const contextObjects = readInputs([join(ROOT, "context")], () => "").map((d) => d.object);

interface Verdict {
  document: number;
  kind: string;
  name: string;
  rule: string;
  path: string;
}

const PLURALS: Record<string, [string, string, string]> = {
  Pod: ["", "v1", "pods"],
  Deployment: ["apps", "v1", "deployments"],
  StatefulSet: ["apps", "v1", "statefulsets"],
  DaemonSet: ["apps", "v1", "daemonsets"],
  ReplicaSet: ["apps", "v1", "replicasets"],
  Job: ["batch", "v1", "jobs"],
  CronJob: ["batch", "v1", "cronjobs"],
  AgentIdentity: ["warden.dev", "v1alpha1", "agentidentities"],
  AgentEnclave: ["warden.dev", "v1alpha1", "agentenclaves"],
  ToolManifest: ["warden.dev", "v1alpha1", "toolmanifests"],
  ServiceAccount: ["", "v1", "serviceaccounts"],
  ConfigMap: ["", "v1", "configmaps"],
  Service: ["", "v1", "services"],
};

let server: WebhookServer;
let dispatcher: Agent;
let current: StaticContextSource;
let uid = 0;

beforeAll(async () => {
  const ca = await createRootCA({ trustDomain: "golden.test", ttlMs: 3_600_000 });
  const tls = await issueServingCert({ ca, dnsNames: [], ipAddresses: ["127.0.0.1"], ttlMs: 3_600_000 });
  // The webhook reads its context per request; each fixture file swaps in its own (context dir +
  // the file's objects), exactly what the CLI sees.
  const source: ContextSource = { snapshot: (ns) => current.snapshot(ns) };
  server = await startWebhookServer({
    tls: { keyPem: tls.keyPem, certPem: tls.certChainPem },
    source,
    sidecar: cfg,
    settings: engineSettings(cfg),
    registry: new Registry(),
    log: createLogger("webhook", { level: "error" }),
    now: () => new Date(NOW),
  });
  dispatcher = new Agent({ connect: { ca: ca.certPem } });
});

afterAll(async () => {
  await server?.close();
  await dispatcher?.close();
});

async function post(path: string, request: Record<string, unknown>) {
  const res = await fetch(`${server.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", request }),
    dispatcher,
  });
  expect(res.status).toBe(200);
  // biome-ignore lint/suspicious/noExplicitAny: an AdmissionReview response read in a test.
  return ((await res.json()) as any).response;
}

async function viaWebhook(file: string): Promise<Verdict[]> {
  const docs = parseText(file, readFileSync(file, "utf8"));
  current = new StaticContextSource([...contextObjects, ...docs.map((d) => d.object)], NS);
  const out: Verdict[] = [];
  for (const d of docs) {
    // biome-ignore lint/suspicious/noExplicitAny: fixture objects are plain JSON.
    let obj = d.object as any;
    const ns = obj.metadata?.namespace ?? NS;
    const [group, version, resource] = PLURALS[obj.kind] ?? ["", "v1", "unknown"];
    const base = {
      kind: { group, version, kind: obj.kind },
      resource: { group, version, resource },
      namespace: ns,
      name: obj.metadata?.name,
      operation: "CREATE",
    };
    const snap = current.snapshotSync(ns);
    // The mutating webhook's selectors: Pods with warden.dev/agent or warden.dev/tool-server in
    // enclave namespaces.
    if (
      obj.kind === "Pod" &&
      (obj.metadata?.labels?.["warden.dev/agent"] || obj.metadata?.labels?.["warden.dev/tool-server"]) &&
      (snap.enclaveLabel || snap.enclaves.length === 1)
    ) {
      const m = await post("/mutate", { uid: `u${++uid}`, ...base, object: obj });
      expect(m.allowed).toBe(true);
      if (m.patch) obj = applyPatch(obj, JSON.parse(Buffer.from(m.patch, "base64").toString()) as PatchOp[]);
    }
    const v = await post("/validate", { uid: `u${++uid}`, ...base, object: obj });
    if (!v.allowed) {
      expect(v.status.code).toBe(403);
      for (const c of v.status.details.causes) {
        expect(v.status.message).toContain(`[${c.reason}] ${c.field}`);
        out.push({
          document: d.index,
          kind: obj.kind,
          name: obj.metadata?.name ?? "",
          rule: c.reason,
          path: c.field,
        });
      }
    }
  }
  return out;
}

async function viaCli(file: string): Promise<{ code: number; findings: Verdict[] }> {
  let stdout = "";
  const code = await run(
    [
      "--mutate",
      "--now",
      NOW,
      "-n",
      NS,
      "-c",
      join(ROOT, "context"),
      "--sidecar-config",
      join(ROOT, "sidecar-config.yaml"),
      "-o",
      "json",
      file,
    ],
    { stdout: (s) => (stdout += s), stderr: () => {}, readStdin: () => "" },
  );
  const r = JSON.parse(stdout) as { findings: Verdict[] };
  return {
    code,
    findings: r.findings.map(({ document, kind, name, rule, path }) => ({
      document,
      kind,
      name,
      rule,
      path,
    })),
  };
}

describe("admission golden fixtures: CLI and webhook agree", () => {
  it("has at least 40 fixture manifests", () => {
    expect(files.length).toBeGreaterThanOrEqual(40);
  });

  it.each(files)("%s", async (name) => {
    const file = join(ROOT, "manifests", name);
    const expected = JSON.parse(
      readFileSync(join(ROOT, "expected", `${name.replace(/\.(ya?ml|json)$/, "")}.json`), "utf8"),
    ) as {
      findings: Verdict[];
    };
    const cli = await viaCli(file);
    const webhook = await viaWebhook(file);
    expect(cli.findings).toEqual(expected.findings);
    expect(webhook).toEqual(expected.findings);
    expect(cli.code).toBe(expected.findings.length > 0 ? 1 : 0);
    // The fixture's header comment names the rule it is about; the verdict must contain it.
    const header = readFileSync(file, "utf8").split("\n")[0] ?? "";
    const rule = /^# ([a-z]+\.[A-Za-z]+):/.exec(header)?.[1];
    if (rule) expect(expected.findings.map((f) => f.rule)).toContain(rule);
    if (/^# Compliant|no rule applies|waived/.test(header)) expect(expected.findings).toEqual([]);
  });
});
