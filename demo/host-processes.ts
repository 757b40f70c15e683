// The demo told with host processes: where no node can run (demo/demo.ts says why), or with
// `npm run demo -- --host-processes`. The whole story on a real control plane, all on loopback.
// The parts are the project's own: operator/main.ts (as its ServiceAccount, bound to the shipped
// RBAC), webhook/main.ts (registered by URL with its caBundle), gateway/main.ts (outbound and
// inbound), the issuer inside the operator, and lib/identity/svid-client.ts playing the sidecar.
// No kubelet runs here, so the demo does what a kubelet would: it asks the TokenRequest API for a
// pod-bound token and hands files (token, policy, bundle) to the gateways.
import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as k8s from "@kubernetes/client-node";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import YAML from "yaml";
import {
  GATEWAY_CONTAINER_NAME,
  GATEWAY_ENV,
  ISSUER_TOKEN_AUDIENCE,
  outboundRoute,
} from "../api/v1alpha1/sidecar.ts";
import { httpsTransport, SvidClient } from "../lib/identity/svid-client.ts";
import { type Cluster, chooseCluster } from "../test/cluster/choose.ts";
import { installCrds } from "../test/cluster/install-crds.ts";
import { PROJECT_ROOT } from "../test/cluster/local-cluster.ts";
import {
  installOperatorRBAC,
  type OperatorRBAC,
  type RunningOperator,
  startOperator,
} from "../test/support/operator-process.ts";
import { type CommandResult, freePort, run } from "../test/support/process.ts";
import { registerWebhookConfigs } from "../test/support/webhook.ts";
import { jsonField, NODE, startChild } from "./children.ts";
import { type SearchToolsServer, startSearchToolsServer, UNLISTED_TOOL } from "./search-tools-server.ts";
import { denialReasons, say, startStory, step, withTimeout } from "./story.ts";

const ci = process.argv.includes("--ci");
const SAMPLES = join(PROJECT_ROOT, "manifests", "samples");
const TRUST_DOMAIN = "cluster.local"; // the operator's default --trust-domain
const RUN = randomBytes(3).toString("hex");
const SCOPE_KEY = "demo.warden.dev/run";

let cluster: Cluster | undefined;
const story = startStory(async () => {
  await cluster?.stop();
  console.log("stopped: every process the demo started, its temp files and cluster objects are gone.");
  return undefined;
});
const { onCleanup } = story;

// ---- small helpers -------------------------------------------------------------------------------
async function waitUntil<T>(
  what: string,
  fn: () => Promise<T | undefined>,
  timeoutMs: number,
  last?: () => string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr = "";
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      lastErr = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  const detail = last?.() ?? lastErr;
  throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}${detail ? `\n${detail}` : ""}`);
}

/** Generous: the demo's commands include node children and server-side dry runs on a busy box. */
const COMMAND_TIMEOUT = { timeoutMs: 120_000 };

async function kubectl(
  args: string[],
  opts: { input?: string; allowFail?: boolean } = {},
): Promise<CommandResult> {
  const [bin, ...lead] = cluster!.kubectl;
  const r = await run(bin!, [...lead, `--kubeconfig=${cluster!.kubeconfig}`, ...args], {
    ...COMMAND_TIMEOUT,
    input: opts.input ?? "",
  });
  if (r.code !== 0 && !opts.allowFail) {
    throw new Error(`kubectl ${args.join(" ")} failed:\n${(r.stderr || r.stdout).trim()}`);
  }
  return r;
}

const json = (objs: unknown[]) => objs.map((o) => JSON.stringify(o)).join("\n");
const hardened = {
  readOnlyRootFilesystem: true,
  allowPrivilegeEscalation: false,
  capabilities: { drop: ["ALL"] },
};
const podSecurity = { runAsNonRoot: true, runAsUser: 10001, seccompProfile: { type: "RuntimeDefault" } };

/** A compliant agent pod spec for AgentIdentity `agent` (what a user's Deployment template holds). */
function agentPodSpec(agent: string, agentType: string) {
  return {
    labels: {
      "warden.dev/agent": agent,
      "warden.dev/agent-type": agentType,
      "warden.dev/enclave": "research-lab",
    },
    spec: {
      serviceAccountName: agent,
      automountServiceAccountToken: false,
      securityContext: podSecurity,
      containers: [
        { name: "agent", image: "ghcr.io/example/research-agent:1.8.0", securityContext: hardened },
      ],
    },
  };
}

// ---- the story -----------------------------------------------------------------------------------
try {
  const tmp = mkdtempSync(join(tmpdir(), "warden-demo-"));
  onCleanup("temp files", () => rmSync(tmp, { recursive: true, force: true }));

  step(1, "Local control plane (kube-apiserver + etcd + kube-controller-manager, Kubernetes v1.36)");
  cluster = await chooseCluster((line) => say(line));
  say(`kubeconfig: ${cluster.kubeconfig}`);
  say(
    (await kubectl(["version"])).stdout
      .trim()
      .split("\n")
      .filter((l) => !l.startsWith("Kustomize"))
      .join(" / "),
  );
  const admin = new k8s.KubeConfig();
  admin.loadFromFile(cluster.kubeconfig);
  const core = admin.makeApiClient(k8s.CoreV1Api);

  // A fresh cluster gets the names from the docs; a reused one (a second run, the test suite's
  // cluster) gets names suffixed with this run's id so nothing collides.
  const exists = async (ns: string) =>
    core.readNamespace({ name: ns }).then(
      () => true,
      () => false,
    );
  const fresh = !(await exists("agents-demo")) && !(await exists("agent-warden-system"));
  const NS = fresh ? "agents-demo" : `agents-demo-${RUN}`;
  const OP_NS = fresh ? "agent-warden-system" : `agent-warden-system-${RUN}`;

  story.done(`control plane: ${cluster.source}; CRDs installed; namespaces ${OP_NS}, ${NS}`);

  step(2, `CRDs, the operator's namespace ${OP_NS} and its RBAC (manifests/rbac)`);
  installCrds(cluster, (line) => say(line));
  say((await kubectl(["get", "crd", "-o", "name"])).stdout.trim());
  await kubectl(["create", "namespace", OP_NS]);
  onCleanup(`namespace ${OP_NS}`, () =>
    kubectl(["delete", "namespace", OP_NS, "--wait=false"], { allowFail: true }),
  );
  const rbac: OperatorRBAC = await installOperatorRBAC(
    cluster.kubeconfig,
    cluster.kubectl,
    OP_NS,
    `demo-${RUN}`,
  );
  onCleanup("operator ClusterRoles/Bindings", () => rbac.cleanup());
  say(
    `ServiceAccount ${OP_NS}/${rbac.serviceAccount}, ClusterRoles ${rbac.clusterRole}, ${rbac.enclaveClusterRole}`,
  );
  // The agents' namespace exists before the operator so it can watch it; the scope label keeps this
  // run's webhook registration to this namespace alone.
  await kubectl(["create", "namespace", NS]);
  await kubectl(["label", "namespace", NS, `${SCOPE_KEY}=${RUN}`]);
  onCleanup(`namespace ${NS}`, () =>
    kubectl(["delete", "namespace", NS, "--wait=false"], { allowFail: true }),
  );
  say(`agents' namespace ${NS} (label ${SCOPE_KEY}=${RUN})`);

  step(3, "Operator (operator/main.ts) as its ServiceAccount; leader election; issuer on");
  const op: RunningOperator = startOperator({
    kubeconfig: rbac.kubeconfig,
    namespace: OP_NS,
    enclaveClusterRole: rbac.enclaveClusterRole,
    watchNamespaces: [NS],
    instance: `demo-${RUN}`,
  });
  onCleanup("operator", () => op.stop());
  const opTail = () => op.logs.slice(-15).join("\n");
  const issuerURL = await waitUntil(
    "the operator's issuer to start (log line 'identity services started')",
    async () => op.logs.map((l) => jsonField(l, "identity services started", "issuerURL")).find(Boolean),
    60_000,
    opTail,
  );
  await waitUntil(
    "the operator to win leader election (log line 'leading: starting controllers')",
    async () => (op.logs.some((l) => l.includes("leading: starting controllers")) ? true : undefined),
    60_000,
    opTail,
  );
  const lease = await admin
    .makeApiClient(k8s.CoordinationV1Api)
    .readNamespacedLease({ name: "agent-warden-operator", namespace: OP_NS });
  say(`leader: ${lease.spec?.holderIdentity} (Lease ${OP_NS}/agent-warden-operator)`);
  say(`issuer: ${issuerURL}`);
  story.done(`operator: leader elected (${lease.spec?.holderIdentity}), issuer at ${issuerURL}`);

  step(4, "Admission webhook (webhook/main.ts), registered by URL with its own CA");
  const whPort = await freePort();
  const whName = `agent-warden-demo-${RUN}`;
  // Registered first without a caBundle; the webhook publishes its CA into both at start.
  const { validating, mutating, unregister } = await registerWebhookConfigs(
    (args, o) => kubectl(args, { ...o, allowFail: true }),
    {
      name: whName,
      target: { url: `https://127.0.0.1:${whPort}` },
      operatorNamespace: OP_NS,
      scopeLabel: { key: SCOPE_KEY, value: RUN },
    },
  );
  onCleanup("webhook configurations", unregister);
  const webhook = startChild("webhook", [join(PROJECT_ROOT, "webhook", "main.ts")], {
    ...process.env,
    KUBECONFIG: cluster.kubeconfig,
    WARDEN_WEBHOOK_PORT: String(whPort),
    WARDEN_OPERATOR_NAMESPACE: OP_NS,
    WARDEN_WEBHOOK_VALIDATING_CONFIGS: validating.metadata.name,
    WARDEN_WEBHOOK_MUTATING_CONFIGS: mutating.metadata.name,
  });
  onCleanup("webhook", () => webhook.stop());
  const whURL = await webhook.waitForLine(
    'the webhook\'s ready line {"url":…}',
    (l) => (l.startsWith('{"url"') ? (JSON.parse(l) as { url: string }).url : undefined),
    60_000,
  );
  // The API server picks up registrations asynchronously: wait until an agent pod in this (not
  // yet enclave) namespace is refused by our webhook.
  const probe = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "probe", namespace: NS, labels: { "warden.dev/agent": "probe" } },
    spec: { containers: [{ name: "c", image: "busybox" }] },
  };
  await waitUntil(
    "the API server to call the webhook (a dry-run agent pod outside an enclave refused)",
    async () => {
      const r = await kubectl(["apply", "--dry-run=server", "-f", "-"], {
        input: JSON.stringify(probe),
        allowFail: true,
      });
      return r.code !== 0 && r.stderr.includes("agent.outsideEnclave") ? true : undefined;
    },
    60_000,
  );
  say(
    `listening at ${whURL}; ${validating.metadata.name} + ${mutating.metadata.name} select namespace ${NS} only`,
  );
  story.done(`webhook: registered by URL with its CA bundle, effective in ${NS}`);

  // The inbound gateway's port is chosen now: search-tools' endpoint must name it.
  const inboundPort = await freePort();
  const endpoint = `https://127.0.0.1:${inboundPort}/mcp`;

  step(5, `Samples (manifests/samples) applied into ${NS}`);
  const docs = readdirSync(SAMPLES)
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .flatMap((f) => YAML.parseAllDocuments(readFileSync(join(SAMPLES, f), "utf8")).map((d) => d.toJSON()))
    .filter(
      (
        d,
      ): d is {
        kind: string;
        metadata: { name: string; namespace?: string };
        spec?: Record<string, unknown>;
      } => Boolean(d),
    )
    .filter((d) => d.kind !== "Namespace");
  for (const d of docs) {
    d.metadata.namespace = NS;
    // Demo only: the tool server is reached through the local inbound gateway, not a Service.
    if (d.kind === "ToolManifest" && d.metadata.name === "search-tools") d.spec!.endpoint = endpoint;
  }
  say((await kubectl(["apply", "--server-side", "-f", "-"], { input: json(docs) })).stdout.trim());
  say(`(search-tools endpoint set to ${endpoint} for this demo)`);
  const aid = await waitUntil(
    "both AgentIdentities to be Ready=True (kubectl get aid)",
    async () => {
      const r = await kubectl(["get", "aid", "-n", NS]);
      const rows = r.stdout.trim().split("\n");
      const ready = (name: string) => rows.some((row) => row.startsWith(`${name} `) && /\bTrue\b/.test(row));
      return ready("research-agent") && ready("support-agent") ? r.stdout.trim() : undefined;
    },
    90_000,
    () => opTail(),
  );
  say(aid);
  const netpols = await waitUntil(
    "the enclave's NetworkPolicies",
    async () => {
      const r = await kubectl(["get", "networkpolicy", "-n", NS, "-o", "name"]);
      return r.stdout.trim() ? r.stdout.trim() : undefined;
    },
    60_000,
  );
  say(
    `NetworkPolicies: ${netpols
      .split("\n")
      .map((s) => s.replace(/^.*\//, ""))
      .join(", ")}`,
  );
  await waitUntil(
    `the operator to label ${NS} as enclave research-lab`,
    async () =>
      (await core.readNamespace({ name: NS })).metadata?.labels?.["warden.dev/enclave"] === "research-lab" ||
      undefined,
    60_000,
  );
  // The webhook caches what it reads from the API for a moment: wait until it sees the enclave.
  const probeAgent = agentPodSpec("research-agent", "research-assistant");
  await waitUntil(
    "the webhook to see the enclave (a dry-run research-agent pod admitted)",
    async () => {
      const pod = {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: "probe", namespace: NS, labels: probeAgent.labels },
        spec: probeAgent.spec,
      };
      const r = await kubectl(["apply", "--dry-run=server", "-f", "-"], {
        input: JSON.stringify(pod),
        allowFail: true,
      });
      if (r.code !== 0) throw new Error(r.stderr.trim());
      return true;
    },
    30_000,
  );
  story.done(
    `samples: enclave research-lab, 2 ToolManifests, 2 AgentIdentities Ready, ${netpols.split("\n").length} NetworkPolicies`,
  );

  step(6, "SVIDs: each agent's pod (sidecar injected) gets a bound token and an X.509-SVID");
  // On a shared cluster another operator (a test's, unscoped) may also publish into this namespace:
  // take the bundle only once it holds this run's CA (Secret <operator ns>/warden-ca).
  const ourCA = await waitUntil(
    `the operator's CA Secret ${OP_NS}/warden-ca`,
    async () => {
      const s = await core.readNamespacedSecret({ name: "warden-ca", namespace: OP_NS });
      const crt = s.data?.["tls.crt"];
      return crt ? Buffer.from(crt, "base64").toString("utf8").trim() : undefined;
    },
    60_000,
  );
  let seenBundle = "";
  const bundleCM = await waitUntil(
    `ConfigMap ${NS}/warden-trust-bundle to hold this operator's CA`,
    async () => {
      const pem = (await core.readNamespacedConfigMap({ name: "warden-trust-bundle", namespace: NS })).data?.[
        "bundle.pem"
      ];
      seenBundle = pem ?? "(none)";
      return pem?.includes(ourCA) ? pem : undefined;
    },
    60_000,
    () => `last bundle.pem seen:\n${seenBundle}`,
  );
  const bundleFile = join(tmp, "bundle.pem");
  writeFileSync(bundleFile, bundleCM);
  const transport = httpsTransport({ issuerURL, bundle: async () => readFileSync(bundleFile, "utf8") });

  /** Creates a pod through the API (and so the webhook), returns it as stored. */
  const createPod = async (name: string, labels: Record<string, string>, spec: Record<string, unknown>) => {
    const pod = { apiVersion: "v1", kind: "Pod", metadata: { name, namespace: NS, labels }, spec };
    await kubectl(["apply", "-f", "-"], { input: JSON.stringify(pod) });
    return core.readNamespacedPod({ name, namespace: NS });
  };
  /** What the kubelet would project into the sidecar: a token bound to the pod, for the issuer. */
  const boundToken = async (pod: k8s.V1Pod) => {
    const res = await core.createNamespacedServiceAccountToken({
      namespace: NS,
      name: pod.spec!.serviceAccountName!,
      body: {
        spec: {
          audiences: [ISSUER_TOKEN_AUDIENCE],
          expirationSeconds: 600,
          boundObjectRef: {
            apiVersion: "v1",
            kind: "Pod",
            name: pod.metadata!.name!,
            uid: pod.metadata!.uid!,
          },
        },
      },
    });
    const token = res.status?.token;
    if (!token) throw new Error(`TokenRequest for pod ${pod.metadata?.name} returned no token`);
    return token;
  };
  const obtainSVID = async (token: string, expectedID: string, label: string) => {
    const client = new SvidClient({
      expectedID,
      trustDomain: TRUST_DOMAIN,
      readToken: async () => token,
      requestSVID: transport.x509,
      trustBundle: async () => readFileSync(bundleFile, "utf8"),
    });
    await withTimeout(client.start(), 30_000, `the issuer to answer ${label}'s CSR`);
    const svid = client.current();
    await client.stop();
    if (!svid) throw new Error(`the issuer refused ${label}: ${client.lastError()?.message ?? "no SVID"}`);
    return svid;
  };
  const tokenFiles: Record<string, string> = {};
  for (const [agent, type] of [
    ["research-agent", "research-assistant"],
    ["support-agent", "support-triage"],
  ] as const) {
    const a = agentPodSpec(agent, type);
    const pod = await createPod(`${agent}-0`, a.labels, a.spec);
    const injected = (pod.spec?.initContainers ?? []).map((c) => c.name);
    if (!injected.includes(GATEWAY_CONTAINER_NAME)) {
      throw new Error(
        `pod ${agent}-0 was admitted without the ${GATEWAY_CONTAINER_NAME} sidecar (mutating webhook)`,
      );
    }
    const token = await boundToken(pod);
    tokenFiles[agent] = join(tmp, `${agent}.token`);
    writeFileSync(tokenFiles[agent], token, { mode: 0o600 });
    const id = `spiffe://${TRUST_DOMAIN}/ns/${NS}/sa/${agent}`;
    const svid = await obtainSVID(token, id, agent);
    say(`pod ${agent}-0: sidecar ${injected.join(",")} injected`);
    say(
      `  SVID ${svid.spiffeID}  notAfter ${svid.notAfter.toISOString()}  serial ${svid.serial.slice(0, 16)}…`,
    );
    // openssl, independent of our code, checks the chain against the published bundle.
    const leaf = join(tmp, `${agent}.crt`);
    const certs =
      svid.certChainPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    writeFileSync(leaf, `${certs[0]}\n`);
    const untrusted = join(tmp, `${agent}.chain`);
    writeFileSync(untrusted, `${certs.slice(1).join("\n")}\n`);
    const v = await run(
      "openssl",
      ["verify", "-CAfile", bundleFile, ...(certs.length > 1 ? ["-untrusted", untrusted] : []), leaf],
      COMMAND_TIMEOUT,
    ).catch((e: Error) => ({ code: -1, stdout: "", stderr: e.message }));
    if (v.code === -1) say(`  openssl not available: ${v.stderr}`);
    else if (v.code !== 0) throw new Error(`openssl verify refused ${agent}'s SVID: ${v.stderr || v.stdout}`);
    else say(`  openssl verify against warden-trust-bundle: ${v.stdout.trim().replace(/^.*: /, "")}`);
  }
  story.done("SVIDs: issued to both agents' pods (pod-bound tokens), chains verify against the bundle");

  step(7, "Admission: a compliant Deployment admitted, a non-compliant one refused");
  const good = agentPodSpec("research-agent", "research-assistant");
  const deployment = (name: string, spec: Record<string, unknown>) => ({
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name, namespace: NS },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { ...good.labels, app: name } }, spec },
    },
  });
  await kubectl(["apply", "-f", "-"], { input: JSON.stringify(deployment("research-agent", good.spec)) });
  // No ReplicaSet controller runs here: show the pod the Deployment would get via a server-side dry run.
  const dry = await kubectl(["create", "--dry-run=server", "-o", "json", "-f", "-"], {
    input: JSON.stringify({
      apiVersion: "v1",
      kind: "Pod",
      metadata: {
        name: "research-agent-template",
        namespace: NS,
        labels: { ...good.labels, app: "research-agent" },
      },
      spec: good.spec,
    }),
  });
  const sidecar = (JSON.parse(dry.stdout) as { spec: { initContainers?: { name: string }[] } }).spec
    .initContainers?.[0]?.name;
  say(`deployment.apps/research-agent admitted; its pods get the sidecar "${sidecar}"`);
  if (sidecar !== GATEWAY_CONTAINER_NAME)
    throw new Error(`expected the ${GATEWAY_CONTAINER_NAME} sidecar, got ${sidecar}`);
  const badSpec = structuredClone(good.spec) as typeof good.spec & Record<string, unknown>;
  const c0 = badSpec.containers[0]! as Record<string, unknown>;
  c0.securityContext = {
    privileged: true,
    allowPrivilegeEscalation: true,
    capabilities: { add: ["NET_ADMIN"] },
  };
  badSpec.hostNetwork = true;
  badSpec.volumes = [{ name: "host", hostPath: { path: "/etc" } }];
  const refused = await kubectl(["apply", "-f", "-"], {
    input: JSON.stringify(deployment("rogue-agent", badSpec)),
    allowFail: true,
  });
  if (refused.code === 0)
    throw new Error("the webhook admitted deployment rogue-agent (privileged, hostNetwork, hostPath)");
  const reasons = denialReasons(refused.stderr);
  say("deployment.apps/rogue-agent refused:");
  for (const r of reasons) say(`  ✘ ${r}`);
  story.done(
    `admission: compliant Deployment admitted with sidecar, rogue one refused (${reasons.length} rules named)`,
  );

  step(8, "MCP through the gateways: agent → outbound gateway → mTLS → inbound gateway → tool server");
  const mcp: SearchToolsServer = await startSearchToolsServer();
  onCleanup("MCP tool server", () => mcp.close());
  say(`tool server (MCP SDK) at ${mcp.url}, lists web_search, fetch_url and ${UNLISTED_TOOL}`);
  // The tool server's own identity: ServiceAccount search-tools (named by its ToolManifest), a pod
  // labelled warden.dev/tool-server=search-tools, a bound token → its SVID from the issuer.
  await kubectl(["create", "serviceaccount", "search-tools", "-n", NS], { allowFail: true });
  const serverPod = await createPod(
    "search-tools-0",
    { "warden.dev/tool-server": "search-tools" },
    {
      serviceAccountName: "search-tools",
      automountServiceAccountToken: false,
      securityContext: podSecurity,
      containers: [
        { name: "server", image: "ghcr.io/example/search-tools:2.1.0", securityContext: hardened },
      ],
    },
  );
  const serverToken = join(tmp, "search-tools.token");
  writeFileSync(serverToken, await boundToken(serverPod), { mode: 0o600 });
  // The policies, as the kubelet would mount the operator's ConfigMaps.
  const mount = async (cm: string, file: string) => {
    const data = await waitUntil(
      `ConfigMap ${NS}/${cm} (written by the operator)`,
      async () => (await core.readNamespacedConfigMap({ name: cm, namespace: NS })).data?.["policy.json"],
      60_000,
    );
    const path = join(tmp, file);
    writeFileSync(path, data);
    return path;
  };
  const inboundPolicy = await mount("warden-inbound-search-tools", "inbound-policy.json");
  const outboundPolicy = await mount("warden-policy-research-agent", "research-agent-policy.json");

  const gatewayEnv = (vars: Record<string, string>) => ({
    ...process.env,
    [GATEWAY_ENV.issuerURL]: issuerURL,
    [GATEWAY_ENV.bundleFile]: bundleFile,
    [GATEWAY_ENV.trustDomain]: TRUST_DOMAIN,
    [GATEWAY_ENV.adminListen]: "127.0.0.1:0",
    ...vars,
  });
  const startGatewayChild = async (name: string, vars: Record<string, string>) => {
    const gw = startChild(name, [join(PROJECT_ROOT, "gateway", "main.ts")], gatewayEnv(vars));
    onCleanup(name, () => gw.stop());
    const ports = await gw.waitForLine(
      "the gateway's 'gateway listening' line",
      (l) => {
        const listen = jsonField(l, "gateway listening", "listen");
        const adminPort = jsonField(l, "gateway listening", "admin");
        return listen && adminPort ? { listen: Number(listen), admin: Number(adminPort) } : undefined;
      },
      30_000,
    );
    await waitUntil(
      `${name} to be ready (/readyz: SVID from the issuer and policy loaded)`,
      async () => ((await fetch(`http://127.0.0.1:${ports.admin}/readyz`)).ok ? true : undefined),
      30_000,
      () => gw.lines.slice(-10).join("\n"),
    );
    return { gw, ...ports };
  };
  const inbound = await startGatewayChild("inbound-gateway", {
    [GATEWAY_ENV.mode]: "inbound",
    [GATEWAY_ENV.listen]: `127.0.0.1:${inboundPort}`,
    [GATEWAY_ENV.upstream]: mcp.url,
    [GATEWAY_ENV.policyFile]: inboundPolicy,
    [GATEWAY_ENV.tokenFile]: serverToken,
    [GATEWAY_ENV.auditFile]: join(tmp, "inbound-audit.jsonl"),
  });
  say(`inbound gateway ${endpoint} (SVID spiffe://${TRUST_DOMAIN}/ns/${NS}/sa/search-tools)`);
  const outboundAudit = join(tmp, "outbound-audit.jsonl");
  const outboundVars = {
    [GATEWAY_ENV.mode]: "outbound",
    [GATEWAY_ENV.listen]: "127.0.0.1:0",
    [GATEWAY_ENV.policyFile]: outboundPolicy,
    [GATEWAY_ENV.tokenFile]: tokenFiles["research-agent"]!,
    [GATEWAY_ENV.auditFile]: outboundAudit,
  };
  let outbound = await startGatewayChild("outbound-gateway", outboundVars);
  const route = `http://127.0.0.1:${outbound.listen}${outboundRoute("search-tools")}`;
  say(`outbound gateway ${route} (research-agent's policy and SVID)`);
  void inbound;

  const client = new Client({ name: "research-agent", version: "1.0.0" });
  await withTimeout(
    client.connect(new StreamableHTTPClientTransport(new URL(route))),
    30_000,
    "MCP initialize",
  );
  const { tools } = await withTimeout(client.listTools(), 30_000, "tools/list");
  const listed = tools.map((t) => t.name).sort();
  say(`tools/list → ${listed.join(", ")}   (${UNLISTED_TOOL} hidden: not in the manifest)`);
  if (listed.includes(UNLISTED_TOOL) || !listed.includes("web_search")) {
    throw new Error(`tools/list through the gateway returned ${listed.join(", ")}`);
  }
  const outcome = async (name: string, args: Record<string, unknown>) => {
    try {
      const r = await withTimeout(client.callTool({ name, arguments: args }), 30_000, `tools/call ${name}`);
      const text = (r.content as { type: string; text?: string }[]).map((c) => c.text ?? "").join(" ");
      return { ok: !r.isError, text };
    } catch (err) {
      return { ok: false, text: (err as Error).message };
    }
  };
  const allowed = await outcome("web_search", { query: "zero trust for AI agents", limit: 2 });
  say(
    `✔ web_search {query, limit: 2} → ${allowed.ok ? "allowed" : "DENIED"}: ${allowed.text.replace(/\n/g, " | ")}`,
  );
  if (!allowed.ok) throw new Error(`the granted call web_search was not allowed: ${allowed.text}`);
  const deniedArg = await outcome("fetch_url", { url: "https://evil.example.com/exfiltrate" });
  say(`✘ fetch_url {url: evil.example.com} → ${deniedArg.ok ? "ALLOWED" : "denied"}: ${deniedArg.text}`);
  const deniedTool = await outcome(UNLISTED_TOOL, {});
  say(`✘ ${UNLISTED_TOOL} {} → ${deniedTool.ok ? "ALLOWED" : "denied"}: ${deniedTool.text}`);
  if (deniedArg.ok || deniedTool.ok) throw new Error("the gateway let a call through that the policy denies");
  if (mcp.executed.has("fetch_url") || mcp.executed.has(UNLISTED_TOOL)) {
    throw new Error("a denied call reached the tool server");
  }
  say(
    `the tool server executed: ${[...mcp.executed].map(([k, v]) => `${k}×${v}`).join(", ")} — nothing else`,
  );
  await client.close();
  story.done(
    "MCP: tools filtered, web_search allowed, off-allowlist URL and unlisted tool denied at the gateway",
  );

  step(9, "warden audit verify on the outbound gateway's audit log");
  // Stopping the gateway seals the log with a signed final checkpoint; verify it strictly.
  await outbound.gw.stop();
  const verify = await run(
    NODE,
    [join(PROJECT_ROOT, "cli", "warden.ts"), "audit", "verify", outboundAudit, "--bundle", bundleFile],
    COMMAND_TIMEOUT,
  );
  say(`$ warden audit verify outbound-audit.jsonl --bundle bundle.pem   (exit ${verify.code})`);
  say((verify.stdout + verify.stderr).trim());
  if (verify.code !== 0) throw new Error("warden audit verify did not find the audit log intact");
  // And a copy with one record edited is caught.
  const tampered = join(tmp, "tampered-audit.jsonl");
  const recs = readFileSync(outboundAudit, "utf8").split("\n");
  const i = recs.findIndex((l) => l.includes('"web_search"'));
  recs[i] = recs[i]!.replace('"web_search"', '"fetch_url"');
  writeFileSync(tampered, recs.join("\n"));
  const caught = await run(
    NODE,
    [join(PROJECT_ROOT, "cli", "warden.ts"), "audit", "verify", tampered, "--bundle", bundleFile],
    COMMAND_TIMEOUT,
  );
  say(`$ warden audit verify tampered-copy.jsonl   (one record's tool name edited; exit ${caught.code})`);
  say((caught.stdout + caught.stderr).trim().split("\n").slice(0, 3).join("\n"));
  if (i < 0 || caught.code !== 1) throw new Error("warden audit verify did not catch an edited record");
  const records = /OK: (\d+ records)/.exec(verify.stdout)?.[1] ?? "all records";
  story.done(`audit: ${records} verified by warden audit verify (OK); an edited copy is caught`);

  story.printSummary();

  if (ci) await story.shutdown(0);
  // Interactive: bring the outbound gateway back (with a fresh audit log) so a person can poke at it.
  outbound = await startGatewayChild("outbound-gateway", {
    ...outboundVars,
    [GATEWAY_ENV.auditFile]: join(tmp, "outbound-audit-2.jsonl"),
  });
  console.log("\nEverything keeps running; press Ctrl-C to stop and clean up.");
  console.log(
    `  MCP route for research-agent: http://127.0.0.1:${outbound.listen}${outboundRoute("search-tools")}`,
  );
  console.log(`  ${cluster.kubectl.join(" ")} --kubeconfig=${cluster.kubeconfig} get aid,pods -n ${NS}`);
  await story.waitForSignal();
} catch (err) {
  await story.fail(err);
}
