// The admission webhook against the real API server with the real kubectl: registered by URL with
// its own CA, mutating (sidecar injection) and validating (rules, fail-closed). Every webhook
// registration here is scoped to this file's namespaces by a unique namespace label, so the shared
// cluster's other tests never meet it.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../lib/log.ts";
import { ApiContextSource } from "../../webhook/api-context.ts";
import { caBundlePublisher } from "../../webhook/certs.ts";
import { type RunningWebhook, runWebhook, webhookEnv } from "../../webhook/main.ts";
import { hardened } from "../../webhook/rules/testkit.ts";
import { DEFAULT_SIDECAR_CONFIG } from "../../webhook/sidecar-config.ts";
import { createNamespace, freePort, kubeConfig, kubectl, uniqueName } from "../support/kube.ts";
import { registerWebhookConfigs } from "../support/webhook.ts";

const SCOPE_KEY = "webhook-test.warden.dev/scope";
const id = uniqueName("wh");
const scope = { [SCOPE_KEY]: id };
const log = createLogger("webhook-test", { level: "warn" });

let webhook: RunningWebhook | undefined;
let enclaveNs: string;
let plainNs: string;
let operatorNs: string;
const cleanups: (() => Promise<void>)[] = [];
const configName = `${id}-warden`;

// biome-ignore lint/suspicious/noExplicitAny: manifests are plain JSON edited per case.
type Obj = any;

/** The ServiceAccount admission plugin needs every referenced SA to exist; none mounts a token. */
function serviceAccount(name: string, namespace: string): Obj {
  return {
    apiVersion: "v1",
    kind: "ServiceAccount",
    metadata: { name, namespace },
    automountServiceAccountToken: false,
  };
}

function agentPod(name: string, ns: string): Obj {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name,
      namespace: ns,
      labels: {
        "warden.dev/agent": "researcher",
        "warden.dev/agent-type": "research-assistant",
        "warden.dev/enclave": "research",
      },
    },
    spec: {
      serviceAccountName: "researcher",
      automountServiceAccountToken: false,
      securityContext: { runAsNonRoot: true, runAsUser: 10001, seccompProfile: { type: "RuntimeDefault" } },
      containers: [
        { name: "agent", image: "ghcr.io/example/research-agent:1.8.0", securityContext: hardened() },
        { name: "memory", image: "redis:7.4-alpine", securityContext: hardened() },
      ],
      volumes: [{ name: "tmp", emptyDir: {} }],
    },
  };
}

function toolServerPod(name: string, ns: string, annotations?: Record<string, string>): Obj {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name,
      namespace: ns,
      labels: { "warden.dev/tool-server": "search" },
      ...(annotations ? { annotations } : {}),
    },
    spec: {
      serviceAccountName: "search",
      automountServiceAccountToken: false,
      securityContext: { runAsNonRoot: true, runAsUser: 10001, seccompProfile: { type: "RuntimeDefault" } },
      containers: [
        {
          name: "server",
          image: "ghcr.io/example/search-mcp:0.4.2",
          ports: [{ name: "mcp", containerPort: 8080 }],
          securityContext: hardened(),
        },
      ],
    },
  };
}

function agentDeployment(name: string, ns: string): Obj {
  const pod = agentPod(name, ns);
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name, namespace: ns },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { ...pod.metadata.labels, app: name } }, spec: pod.spec },
    },
  };
}

async function apply(obj: Obj, extra: string[] = []) {
  return kubectl(["apply", "-f", "-", ...extra], { input: JSON.stringify(obj) });
}

async function getJson(args: string[]): Promise<Obj> {
  const r = await kubectl(["get", ...args, "-o", "json"]);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
}

beforeAll(async () => {
  const enc = await createNamespace("wh-enclave", { "warden.dev/enclave": "research", ...scope });
  const plain = await createNamespace("wh-plain", { ...scope });
  const op = await createNamespace("wh-operator", { "warden.dev/enclave": "research", ...scope });
  enclaveNs = enc.name;
  plainNs = plain.name;
  operatorNs = op.name;
  cleanups.push(enc.cleanup, plain.cleanup, op.cleanup);

  // Context the webhook reads from the API: enclave, identity, tool manifest, ServiceAccount.
  const ctx = [
    {
      apiVersion: "warden.dev/v1alpha1",
      kind: "AgentEnclave",
      metadata: { name: "research", namespace: enclaveNs },
      spec: { toolServers: ["search"], requireSponsor: true },
    },
    {
      apiVersion: "warden.dev/v1alpha1",
      kind: "AgentIdentity",
      metadata: { name: "researcher", namespace: enclaveNs },
      spec: { enclave: "research", agentType: "research-assistant", sponsor: { name: "alice" } },
    },
    {
      apiVersion: "warden.dev/v1alpha1",
      kind: "ToolManifest",
      metadata: { name: "search", namespace: enclaveNs },
      spec: {
        endpoint: "https://search.example.svc:15443/mcp",
        // The tool server's own port; its inbound gateway listens on 15443 and forwards here.
        server: { port: 8080, serviceAccountName: "search" },
        tools: [{ name: "web_search" }],
      },
    },
    serviceAccount("researcher", enclaveNs),
    serviceAccount("search", enclaveNs),
    serviceAccount("researcher", operatorNs),
    serviceAccount("researcher", plainNs),
  ];
  const r = await kubectl(["apply", "-f", "-"], { input: ctx.map((o) => JSON.stringify(o)).join("\n") });
  expect(r.code, r.stderr).toBe(0);

  // Register first (without caBundle), then start the webhook: it publishes its CA into both.
  const port = await freePort();
  const { validating, mutating, unregister } = await registerWebhookConfigs(kubectl, {
    name: configName,
    target: { url: `https://127.0.0.1:${port}` },
    operatorNamespace: operatorNs,
    scopeLabel: { key: SCOPE_KEY, value: id },
  });
  cleanups.push(unregister);
  const kc = kubeConfig();
  webhook = await runWebhook({
    env: webhookEnv.parse({ WARDEN_WEBHOOK_PORT: String(port), WARDEN_OPERATOR_NAMESPACE: operatorNs }),
    sidecar: DEFAULT_SIDECAR_CONFIG,
    source: new ApiContextSource(kc, { ttlMs: 0 }),
    log,
    publishCABundle: caBundlePublisher(
      kc,
      { validating: [validating.metadata.name], mutating: [mutating.metadata.name] },
      log,
    ),
  });
  // The API server picks up new webhook configurations asynchronously: wait until a bad pod is refused.
  const probe = agentPod("probe", enclaveNs);
  probe.spec.hostNetwork = true;
  const deadline = Date.now() + 60_000;
  for (;;) {
    const p = await apply(probe, ["--dry-run=server"]);
    if (p.code !== 0 && p.stderr.includes("pod.hostNamespaces")) break;
    if (Date.now() > deadline) throw new Error(`webhook never became effective: ${p.stdout} ${p.stderr}`);
    await new Promise((res) => setTimeout(res, 500));
  }
});

afterAll(async () => {
  await webhook?.stop();
  await kubectl(["label", "namespace", "kube-system", `${SCOPE_KEY}-`]);
  for (const c of cleanups.reverse()) await c();
});

describe("admission webhook on a real API server", () => {
  it("admits a compliant agent Pod and injects the gateway as a native sidecar", async () => {
    const r = await apply(agentPod("good-pod", enclaveNs));
    expect(r.code, r.stderr).toBe(0);
    const pod = await getJson(["pod", "good-pod", "-n", enclaveNs]);
    const gw = pod.spec.initContainers[0];
    expect(gw.name).toBe("warden-gateway");
    expect(gw.restartPolicy).toBe("Always");
    expect(gw.startupProbe.httpGet.path).toBe("/readyz");
    expect(JSON.parse(pod.metadata.annotations["warden.dev/gateway-status"]).templateHash).toMatch(
      /^sha256:/,
    );
    const token = pod.spec.volumes.find((v: Obj) => v.name === "warden-issuer-token");
    expect(token.projected.sources[0].serviceAccountToken).toMatchObject({
      audience: "warden.dev/issuer",
      expirationSeconds: 600,
    });
    for (const c of pod.spec.containers) {
      expect(c.env).toContainEqual({ name: "WARDEN_GATEWAY_URL", value: "http://127.0.0.1:15001" });
      expect((c.volumeMounts ?? []).map((m: Obj) => m.name)).not.toContain("warden-issuer-token");
    }
    // What the API server stored (defaults applied) still passes the validator: an UPDATE of a
    // harmless label goes through.
    const u = await kubectl(["label", "pod", "good-pod", "-n", enclaveNs, "team=research"]);
    expect(u.code, u.stderr).toBe(0);
  });

  it("admits a tool-server Pod with the inbound gateway in front of it (port from its ToolManifest)", async () => {
    const r = await apply(toolServerPod("search-0", enclaveNs));
    expect(r.code, r.stderr).toBe(0);
    const pod = await getJson(["pod", "search-0", "-n", enclaveNs]);
    const gw = pod.spec.initContainers[0];
    expect(gw.name).toBe("warden-gateway");
    expect(gw.restartPolicy).toBe("Always");
    const env = Object.fromEntries(gw.env.map((e: Obj) => [e.name, e.value]));
    expect(env).toMatchObject({
      WARDEN_GATEWAY_MODE: "inbound",
      WARDEN_GATEWAY_LISTEN: "0.0.0.0:15443",
      WARDEN_UPSTREAM: "http://127.0.0.1:8080",
    });
    expect(gw.ports.map((p: Obj) => p.containerPort)).toContain(15443);
    const policy = pod.spec.volumes.find((v: Obj) => v.name === "warden-policy");
    expect(policy.configMap.name).toBe("warden-inbound-search");
    // The issuer token, bundle and policy are the sidecar's alone; the server gets no gateway env.
    const server = pod.spec.containers[0];
    expect(server.volumeMounts?.map((m: Obj) => m.name) ?? []).not.toContain("warden-issuer-token");
    expect(server.env).toBeUndefined();
    // The stored pod (API server defaults applied) still passes: a harmless label UPDATE goes through.
    const u = await kubectl(["label", "pod", "search-0", "-n", enclaveNs, "team=research"]);
    expect(u.code, u.stderr).toBe(0);
  });

  it("rejects tool-server Pods without an unmodified inbound gateway", async () => {
    // On a gateway port: nothing can be injected, so the pod arrives without the inbound gateway.
    const r1 = await apply(
      toolServerPod("search-reserved", enclaveNs, { "warden.dev/tool-server-port": "15443" }),
    );
    expect(r1.code).not.toBe(0);
    expect(r1.stderr).toContain("denied the request");
    expect(r1.stderr).toContain(
      '[gateway.inboundPresent] metadata.annotations["warden.dev/tool-server-port"]',
    );
    // A hand-written gateway in outbound mode (plaintext in, no mTLS): left alone by the injector,
    // refused by the validator.
    const forged = toolServerPod("search-forged", enclaveNs);
    forged.spec.initContainers = [
      {
        name: "warden-gateway",
        image: "ghcr.io/agent-warden/gateway:0.1.0",
        restartPolicy: "Always",
        env: [{ name: "WARDEN_GATEWAY_MODE", value: "outbound" }],
        securityContext: hardened(),
      },
    ];
    const r2 = await apply(forged);
    expect(r2.code).not.toBe(0);
    expect(r2.stderr).toContain("[gateway.inboundPresent] spec.initContainers[0]");
    for (const name of ["search-reserved", "search-forged"]) {
      expect((await kubectl(["get", "pod", name, "-n", enclaveNs])).code).not.toBe(0);
    }
  });

  it("admits a compliant agent Deployment", async () => {
    const r = await apply(agentDeployment("good-deploy", enclaveNs));
    expect(r.code, r.stderr).toBe(0);
  });

  const bad: [string, (o: Obj) => void, string, string][] = [
    [
      "writable-rootfs",
      (d) => delete d.spec.template.spec.containers[1].securityContext.readOnlyRootFilesystem,
      "container.readOnlyRootFilesystem",
      "spec.template.spec.containers[1].securityContext.readOnlyRootFilesystem",
    ],
    [
      "host-path",
      (d) => d.spec.template.spec.volumes.push({ name: "host", hostPath: { path: "/etc" } }),
      "pod.hostPath",
      "spec.template.spec.volumes[1].hostPath",
    ],
    [
      "cap-add",
      (d) => (d.spec.template.spec.containers[0].securityContext.capabilities.add = ["NET_ADMIN"]),
      "container.capabilities",
      "spec.template.spec.containers[0].securityContext.capabilities.add[0]",
    ],
    [
      "root-user",
      (d) => (d.spec.template.spec.containers[0].securityContext.runAsUser = 0),
      "container.runAsNonRoot",
      "spec.template.spec.containers[0].securityContext.runAsUser",
    ],
    [
      "wrong-sa",
      (d) => (d.spec.template.spec.serviceAccountName = "default"),
      "pod.serviceAccount",
      "spec.template.spec.serviceAccountName",
    ],
    [
      "unknown-agent",
      (d) => (d.spec.template.metadata.labels["warden.dev/agent"] = "ghost"),
      "agent.identityExists",
      'spec.template.metadata.labels["warden.dev/agent"]',
    ],
    [
      "no-seccomp",
      (d) => delete d.spec.template.spec.securityContext.seccompProfile,
      "pod.seccomp",
      "spec.template.spec.securityContext.seccompProfile.type",
    ],
    [
      "escalation",
      (d) => (d.spec.template.spec.containers[1].securityContext.allowPrivilegeEscalation = true),
      "container.allowPrivilegeEscalation",
      "spec.template.spec.containers[1].securityContext.allowPrivilegeEscalation",
    ],
    [
      "host-pid",
      (d) => (d.spec.template.spec.hostPID = true),
      "pod.hostNamespaces",
      "spec.template.spec.hostPID",
    ],
    [
      "gw-image",
      (d) => (d.spec.template.spec.containers[1].image = "ghcr.io/agent-warden/gateway:0.1.0"),
      "gateway.impersonation",
      "spec.template.spec.containers[1].image",
    ],
  ];
  it.each(bad)(
    "rejects a Deployment with %s, naming the rule and the field",
    async (name, edit, rule, path) => {
      const d = agentDeployment(`bad-${name}`, enclaveNs);
      edit(d);
      const r = await apply(d);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain("denied the request");
      expect(r.stderr).toContain(`[${rule}] ${path}`);
      const g = await kubectl(["get", "deployment", `bad-${name}`, "-n", enclaveNs]);
      expect(g.code).not.toBe(0);
    },
  );

  it("rejects non-compliant Pods: unlabelled pod in the enclave, agent pod outside an enclave", async () => {
    const stray = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "stray", namespace: enclaveNs },
      spec: { containers: [{ name: "c", image: "busybox" }] },
    };
    const r1 = await apply(stray);
    expect(r1.code).not.toBe(0);
    expect(r1.stderr).toContain("[enclave.podKind] metadata.labels");
    const r2 = await apply(agentPod("lost-agent", plainNs));
    expect(r2.code).not.toBe(0);
    expect(r2.stderr).toContain('[agent.outsideEnclave] metadata.labels["warden.dev/agent"]');
  });

  it("rejects an UPDATE that changes the agent label or drops the sidecar's status", async () => {
    expect((await apply(agentPod("upd-pod", enclaveNs))).code).toBe(0);
    const relabel = await kubectl([
      "label",
      "pod",
      "upd-pod",
      "-n",
      enclaveNs,
      "--overwrite",
      "warden.dev/agent=coder",
    ]);
    expect(relabel.code).not.toBe(0);
    expect(relabel.stderr).toContain('[agent.immutableLabels] metadata.labels["warden.dev/agent"]');
    const unannotate = await kubectl([
      "annotate",
      "pod",
      "upd-pod",
      "-n",
      enclaveNs,
      "warden.dev/gateway-status-",
    ]);
    expect(unannotate.code).not.toBe(0);
    expect(unannotate.stderr).toContain(
      '[gateway.unmodified] metadata.annotations["warden.dev/gateway-status"]',
    );
    // Removing the sidecar itself is refused; the stored pod keeps its gateway.
    const pod = await getJson(["pod", "upd-pod", "-n", enclaveNs]);
    pod.spec.initContainers = [];
    const replace = await kubectl(["replace", "-f", "-"], { input: JSON.stringify(pod) });
    expect(replace.code).not.toBe(0);
    // The API server's own pod validation runs before validating webhooks and refuses it first;
    // webhook/server.test.ts shows the webhook refusing the same UPDATE (gateway.present).
    expect(replace.stderr).toMatch(/pod updates may not add or remove containers|gateway\.present/);
    const after = await getJson(["pod", "upd-pod", "-n", enclaveNs]);
    expect(after.spec.initContainers[0].name).toBe("warden-gateway");
    expect(after.metadata.labels["warden.dev/agent"]).toBe("researcher");
  });

  it("checks kubectl debug ephemeral containers through pods/ephemeralcontainers", async () => {
    expect((await apply(agentPod("debug-me", enclaveNs))).code).toBe(0);
    const plain = await kubectl([
      "debug",
      "debug-me",
      "-n",
      enclaveNs,
      "--image=busybox:1.37",
      "--container=dbg1",
      "--profile=restricted",
    ]);
    expect(plain.code).not.toBe(0);
    expect(plain.stderr).toContain(
      "[container.readOnlyRootFilesystem] spec.ephemeralContainers[0].securityContext.readOnlyRootFilesystem",
    );
    const custom = JSON.stringify({ securityContext: { readOnlyRootFilesystem: true, runAsNonRoot: true } });
    const { writeFileSync, mkdtempSync } = await import("node:fs");
    const { join } = await import("node:path");
    const { tmpdir } = await import("node:os");
    const file = join(mkdtempSync(join(tmpdir(), "wh-")), "custom.json");
    writeFileSync(file, custom);
    const ok = await kubectl([
      "debug",
      "debug-me",
      "-n",
      enclaveNs,
      "--image=busybox:1.37",
      "--container=dbg2",
      "--profile=restricted",
      `--custom=${file}`,
    ]);
    expect(ok.code, ok.stderr).toBe(0);
    const pod = await getJson(["pod", "debug-me", "-n", enclaveNs]);
    expect(pod.spec.ephemeralContainers.map((c: Obj) => c.name)).toEqual(["dbg2"]);
  });

  it("leaves kube-system and the operator's namespace alone", async () => {
    const l = await kubectl(["label", "namespace", "kube-system", "--overwrite", `${SCOPE_KEY}=${id}`]);
    expect(l.code, l.stderr).toBe(0);
    const name = uniqueName("wh-ks");
    const ks = agentPod(name, "kube-system");
    ks.spec.serviceAccountName = undefined;
    ks.spec.hostNetwork = true;
    const r = await apply(ks, ["--dry-run=server"]);
    expect(r.code, r.stderr).toBe(0);
    const op = agentPod("op-pod", operatorNs);
    op.spec.hostNetwork = true;
    const r2 = await apply(op, ["--dry-run=server"]);
    expect(r2.code, r2.stderr).toBe(0);
  });

  it("server-side dry-run is answered (mutated and validated) and leaves no trace", async () => {
    const r = await kubectl(["apply", "--dry-run=server", "-o", "json", "-f", "-"], {
      input: JSON.stringify(agentPod("dry-pod", enclaveNs)),
    });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).spec.initContainers[0].name).toBe("warden-gateway");
    const g = await kubectl(["get", "pod", "dry-pod", "-n", enclaveNs]);
    expect(g.code).not.toBe(0);
    expect(g.stderr).toContain("NotFound");
    const bad = agentPod("dry-bad", enclaveNs);
    bad.spec.containers[0].securityContext.privileged = true;
    bad.spec.containers[0].securityContext.allowPrivilegeEscalation = true;
    const rb = await apply(bad, ["--dry-run=server"]);
    expect(rb.code).not.toBe(0);
    expect(rb.stderr).toContain("[container.privileged] spec.containers[0].securityContext.privileged");
  });

  it("checks the warden kinds beyond CEL: sponsor required, exemptions about to expire warn", async () => {
    const noSponsor = {
      apiVersion: "warden.dev/v1alpha1",
      kind: "AgentIdentity",
      metadata: { name: "nobody", namespace: enclaveNs },
      spec: { enclave: "research", agentType: "chat" },
    };
    const r = await apply(noSponsor);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("[identity.sponsorRequired] spec.sponsor");
    const soon = new Date(Date.now() + 3_600_000).toISOString().replace(/\.\d+Z$/, "Z");
    const enclave = {
      apiVersion: "warden.dev/v1alpha1",
      kind: "AgentEnclave",
      metadata: { name: "research", namespace: enclaveNs },
      spec: {
        toolServers: ["search"],
        requireSponsor: true,
        exemptions: [
          {
            name: "short",
            rules: ["pod.hostPath"],
            startsAt: new Date(Date.now() - 3_600_000).toISOString().replace(/\.\d+Z$/, "Z"),
            expiresAt: soon,
            reason: "migration window for the log collector",
          },
        ],
      },
    };
    const w = await apply(enclave);
    expect(w.code, w.stderr).toBe(0);
    expect(w.stderr).toMatch(/Warning: .*exemption short expires within 24h/);
  });

  it("fails closed: with the webhook stopped, enclave agent pods are refused and other namespaces still work", async () => {
    await webhook?.stop();
    webhook = undefined;
    const r = await apply(agentPod("while-down", enclaveNs));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/failed calling webhook "pods\.validate\.warden\.dev"/);
    const g = await kubectl(["get", "pod", "while-down", "-n", enclaveNs]);
    expect(g.code).not.toBe(0);
    const other = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "ordinary", namespace: plainNs },
      spec: { containers: [{ name: "c", image: "nginx:1.27" }] },
    };
    const o = await apply(other);
    expect(o.code, o.stderr).toBe(0);
  });
});
