// The webhook's own CA and serving certificate rotate (here every few seconds) while the API
// server keeps calling it: the caBundle it publishes into its configurations must stay ahead of the
// certificate it serves, or admission would fail closed.
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { certsFromPem } from "../../lib/identity/crypto.ts";
import { createLogger } from "../../lib/log.ts";
import { ApiContextSource } from "../../webhook/api-context.ts";
import { caBundlePublisher } from "../../webhook/certs.ts";
import { type RunningWebhook, runWebhook, webhookEnv } from "../../webhook/main.ts";
import { DEFAULT_SIDECAR_CONFIG } from "../../webhook/sidecar-config.ts";
import { createNamespace, freePort, kubeConfig, kubectl, uniqueName } from "../support/kube.ts";
import { registerWebhookConfigs } from "../support/webhook.ts";

const SCOPE_KEY = "webhook-test.warden.dev/scope";
const id = uniqueName("whrot");
let webhook: RunningWebhook | undefined;
let ns: string;
const cleanups: (() => Promise<void>)[] = [];
const names = { validating: `${id}-validating`, mutating: `${id}-mutating` };

const pod = (name: string) => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name, namespace: ns, labels: { "warden.dev/tool-server": "search" } },
  spec: {
    automountServiceAccountToken: false,
    securityContext: { runAsNonRoot: true, runAsUser: 10001, seccompProfile: { type: "RuntimeDefault" } },
    containers: [
      {
        name: "server",
        image: "ghcr.io/example/search-mcp:0.4.2",
        securityContext: {
          readOnlyRootFilesystem: true,
          allowPrivilegeEscalation: false,
          capabilities: { drop: ["ALL"] },
        },
      },
    ],
  },
});

beforeAll(async () => {
  const n = await createNamespace("wh-rot", { "warden.dev/enclave": "research", [SCOPE_KEY]: id });
  ns = n.name;
  cleanups.push(n.cleanup);
  const ctx = [
    {
      apiVersion: "warden.dev/v1alpha1",
      kind: "AgentEnclave",
      metadata: { name: "research", namespace: ns },
      spec: {},
    },
    {
      apiVersion: "warden.dev/v1alpha1",
      kind: "ToolManifest",
      metadata: { name: "search", namespace: ns },
      spec: {
        endpoint: "https://search.example.svc:15443/mcp",
        // The tool server's own port (15443 is its inbound gateway's, which the webhook injects).
        // The pods below run as the namespace's default ServiceAccount, as its inbound gateway will.
        server: { port: 8080, serviceAccountName: "default" },
        tools: [{ name: "web_search" }],
      },
    },
  ];
  expect(
    (await kubectl(["apply", "-f", "-"], { input: ctx.map((o) => JSON.stringify(o)).join("\n") })).code,
  ).toBe(0);
  const port = await freePort();
  const { unregister } = await registerWebhookConfigs(kubectl, {
    name: id,
    target: { url: `https://127.0.0.1:${port}` },
    operatorNamespace: "agent-warden",
    scopeLabel: { key: SCOPE_KEY, value: id },
  });
  cleanups.push(unregister);
  const kc = kubeConfig();
  const log = createLogger("webhook-rotation", { level: "warn" });
  webhook = await runWebhook({
    env: webhookEnv.parse({
      WARDEN_WEBHOOK_PORT: String(port),
      // CA every ~8 s, serving certificate every ~3 s (2/3 of the lifetimes below).
      WARDEN_WEBHOOK_CA_TTL: "12000",
      WARDEN_WEBHOOK_CERT_TTL: "4500",
      WARDEN_WEBHOOK_CA_PROPAGATION_MS: "1200",
    }),
    sidecar: DEFAULT_SIDECAR_CONFIG,
    source: new ApiContextSource(kc, { ttlMs: 0 }),
    log,
    publishCABundle: caBundlePublisher(
      kc,
      { validating: [names.validating], mutating: [names.mutating] },
      log,
    ),
  });
});

afterAll(async () => {
  await webhook?.stop();
  for (const c of cleanups.reverse()) await c();
});

describe("webhook certificate rotation", () => {
  it("keeps admitting through serving-certificate and CA rotations, with the caBundle kept current", async () => {
    const api = kubeConfig().makeApiClient(k8s.AdmissionregistrationV1Api);
    const cas = new Set<string>();
    const served = new Set<string>();
    const deadline = Date.now() + 25_000;
    let i = 0;
    // Wait for the configuration to take effect (first denial of a bad pod), then loop.
    for (;;) {
      const bad = pod("probe");
      bad.metadata.labels = {} as never;
      const r = await kubectl(["apply", "--dry-run=server", "-f", "-"], { input: JSON.stringify(bad) });
      if (r.stderr.includes("enclave.podKind")) break;
      if (Date.now() > deadline) throw new Error(`webhook never effective: ${r.stderr}`);
      await new Promise((res) => setTimeout(res, 300));
    }
    while (Date.now() < deadline) {
      cas.add(webhook!.certs.caPem);
      served.add(webhook!.certs.tls.certPem);
      const r = await kubectl(["apply", "--dry-run=server", "-f", "-"], {
        input: JSON.stringify(pod(`p${i++}`)),
      });
      expect(r.code, r.stderr).toBe(0);
      await new Promise((res) => setTimeout(res, 400));
    }
    expect(cas.size).toBeGreaterThanOrEqual(2);
    expect(served.size).toBeGreaterThanOrEqual(4);
    // The published bundle holds the current CA (and any predecessor that has not expired yet).
    const v = await api.readValidatingWebhookConfiguration({ name: names.validating });
    const bundle = Buffer.from(v.webhooks![0]!.clientConfig.caBundle!, "base64").toString();
    const serials = certsFromPem(bundle).map((c) => c.serialNumber);
    expect(serials).toContain(certsFromPem(webhook!.certs.caPem)[0]!.serialNumber);
    expect(serials.length).toBeLessThanOrEqual(2);
  });
});
