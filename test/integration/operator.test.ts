// The operator as a real process on the real API server with RBAC on, authenticated as a
// ServiceAccount bound to exactly manifests/rbac: enclave fences, manifests, identities, policies.
import { existsSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { gatewayPolicy, inboundPolicy } from "../../api/v1alpha1/index.ts";
import { kubeConfig } from "../support/kube.ts";
import {
  type OperatorRBAC,
  operatorTestbed,
  ROOT,
  type RunningOperator,
  waitFor,
} from "./operator-harness.ts";

const GROUP = "warden.dev";
const VERSION = "v1alpha1";
const IDENTITY_ON = existsSync(join(ROOT, "operator", "identity", "index.ts"));

let rbac: OperatorRBAC;
let op: RunningOperator;
let ns: string;
const cleanups: (() => Promise<void>)[] = [];
const admin = kubeConfig();
const custom = admin.makeApiClient(k8s.CustomObjectsApi);
const core = admin.makeApiClient(k8s.CoreV1Api);
const net = admin.makeApiClient(k8s.NetworkingV1Api);
const rbacApi = admin.makeApiClient(k8s.RbacAuthorizationV1Api);

type Obj = {
  metadata: { name: string; uid?: string; resourceVersion?: string };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown> & {
    conditions?: { type: string; status: string; reason: string; message: string }[];
  };
};
const crd = (plural: string) => ({
  create: (body: unknown) =>
    custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns, plural, body }),
  get: async (name: string) =>
    (await custom.getNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: ns,
      plural,
      name,
    })) as Obj,
  patch: (name: string, body: unknown) =>
    custom.patchNamespacedCustomObject(
      { group: GROUP, version: VERSION, namespace: ns, plural, name, body },
      k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
    ),
  delete: (name: string) =>
    custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns, plural, name }),
});
const enclaves = crd("agentenclaves");
const manifests = crd("toolmanifests");
const identities = crd("agentidentities");
const cond = (o: Obj, type: string) => o.status?.conditions?.find((c) => c.type === type);

/** NetworkPolicy as wire JSON (client-node's typed model renames `from`). */
async function getNetpol(
  name: string,
): Promise<
  { spec: Record<string, unknown>; metadata: { ownerReferences?: { kind: string }[] } } | undefined
> {
  try {
    return (await custom.getNamespacedCustomObject({
      group: "networking.k8s.io",
      version: "v1",
      namespace: ns,
      plural: "networkpolicies",
      name,
    })) as never;
  } catch {
    return undefined;
  }
}

function manifest(name: string, extra: Record<string, unknown> = {}) {
  return {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: "ToolManifest",
    metadata: { name },
    spec: {
      endpoint: `https://${name}.${ns}.svc:8443/mcp`,
      server: { port: 8443 },
      tools: [
        {
          name: "web_search",
          description: "Search the web",
          inputSchema: { type: "object", properties: { q: { type: "string" } } },
          risk: "Low",
        },
        { name: "fetch", risk: "Medium" },
      ],
      ...extra,
    },
  };
}

/** A loopback port nobody listens on now, for the issuer (the enclave policies name its port). */
async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/** Where the issuer runs, as the chart tells the operator (operator Deployment selector labels). */
const ISSUER_LABELS = { "app.kubernetes.io/instance": "itest", "app.kubernetes.io/component": "operator" };
let issuerPort = 0;

beforeAll(async () => {
  const bed = await operatorTestbed("warden-enc", cleanups);
  ({ rbac, namespace: ns } = bed);
  issuerPort = await freePort();
  const network = [
    `--issuer-port=${issuerPort}`,
    "--issuer-pod-labels=app.kubernetes.io/instance=itest,app.kubernetes.io/component=operator",
    "--dns-namespace=kube-system",
    "--dns-pod-labels=k8s-app=kube-dns",
  ];
  op = bed.start("op-main", [
    ...network,
    // A one-hour bundle resync: within this file only an enclave's own labelling can publish the
    // trust bundle into its namespace.
    ...(IDENTITY_ON ? ["--svid-ttl-override=30s", "--bundle-resync=1h"] : ["--identity=off"]),
  ]);
  console.error(
    `[operator.test] identity services ${IDENTITY_ON ? "ON" : "OFF (operator/identity/index.ts missing)"}`,
  );
  await waitFor(
    "the operator to lead",
    async () => (await op.metric("warden_operator_leader")) === 1,
    90_000,
  );
});

afterAll(async () => {
  await op?.stop();
  for (const c of cleanups.reverse()) await c();
});

describe("operator RBAC", () => {
  it("the operator's ServiceAccount has the shipped rights and nothing more", async () => {
    const opKc = new k8s.KubeConfig();
    opKc.loadFromFile(rbac.kubeconfig);
    const authz = opKc.makeApiClient(k8s.AuthorizationV1Api);
    const can = async (attrs: k8s.V1ResourceAttributes) =>
      (await authz.createSelfSubjectAccessReview({ body: { spec: { resourceAttributes: attrs } } })).status
        ?.allowed ?? false;
    // What it needs.
    expect(await can({ verb: "create", resource: "tokenreviews", group: "authentication.k8s.io" })).toBe(
      true,
    );
    expect(await can({ verb: "watch", resource: "agentidentities", group: GROUP })).toBe(true);
    expect(
      await can({
        verb: "patch",
        resource: "agentidentities",
        subresource: "status",
        group: GROUP,
        namespace: ns,
      }),
    ).toBe(true);
    expect(
      await can({
        verb: "update",
        resource: "leases",
        group: "coordination.k8s.io",
        namespace: rbac.namespace,
      }),
    ).toBe(true);
    expect(await can({ verb: "create", resource: "secrets", namespace: rbac.namespace })).toBe(true);
    // What it must not have.
    expect(await can({ verb: "get", resource: "secrets", namespace: "kube-system" })).toBe(false);
    expect(await can({ verb: "list", resource: "secrets" })).toBe(false);
    expect(await can({ verb: "create", resource: "pods", subresource: "exec", namespace: ns })).toBe(false);
    expect(await can({ verb: "create", resource: "pods", namespace: ns })).toBe(false);
    expect(await can({ verb: "delete", resource: "namespaces" })).toBe(false);
    expect(await can({ verb: "update", resource: "agentidentities", group: GROUP, namespace: ns })).toBe(
      false,
    );
    expect(
      await can({ verb: "create", resource: "clusterrolebindings", group: "rbac.authorization.k8s.io" }),
    ).toBe(false);
    expect(
      await can({
        verb: "bind",
        resource: "clusterroles",
        group: "rbac.authorization.k8s.io",
        name: "cluster-admin",
      }),
    ).toBe(false);
    expect(
      await can({ verb: "escalate", resource: "clusterroles", group: "rbac.authorization.k8s.io" }),
    ).toBe(false);
    expect(
      await can({
        verb: "create",
        resource: "leases",
        group: "coordination.k8s.io",
        namespace: "kube-system",
      }),
    ).toBe(false);
    expect(
      await can({
        verb: "create",
        resource: "networkpolicies",
        group: "networking.k8s.io",
        namespace: "default",
      }),
    ).toBe(false);
    expect(await can({ verb: "create", resource: "serviceaccounts", namespace: "default" })).toBe(false);
    // Writes in the enclave namespace come with its enclave (the operator binds the enclave role there).
    expect(await can({ verb: "create", resource: "secrets", namespace: ns })).toBe(false);
    await enclaves.create({
      apiVersion: `${GROUP}/${VERSION}`,
      kind: "AgentEnclave",
      metadata: { name: "rbac-probe" },
      spec: {},
    });
    await waitFor(
      "the enclave role binding",
      () => can({ verb: "create", resource: "secrets", namespace: ns }),
      30_000,
    );
    expect(await can({ verb: "list", resource: "secrets", namespace: ns })).toBe(false);
    expect(await can({ verb: "get", resource: "secrets", namespace: "default" })).toBe(false);
    // It watches its own RoleBindings (by name, everywhere) and nobody else's.
    const rb = { resource: "rolebindings", group: "rbac.authorization.k8s.io" };
    expect(await can({ ...rb, verb: "watch", name: "agent-warden-operator" })).toBe(true);
    expect(await can({ ...rb, verb: "list", name: "agent-warden-operator" })).toBe(true);
    expect(await can({ ...rb, verb: "list" })).toBe(false);
    expect(await can({ ...rb, verb: "get", name: "admin", namespace: "kube-system" })).toBe(false);
    await enclaves.delete("rbac-probe");
  });
});

describe("AgentEnclave", () => {
  const AGENTS = { matchExpressions: [{ key: "warden.dev/agent", operator: "Exists" }] };
  const issuerEgress = () => ({
    to: [
      {
        namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": rbac.namespace } },
        podSelector: { matchLabels: ISSUER_LABELS },
      },
    ],
    ports: [{ protocol: "TCP", port: issuerPort }],
  });

  it("labels the namespace and writes NetworkPolicies of an exact shape", async () => {
    await manifests.create(manifest("search"));
    await manifests.create(manifest("saas", { server: { port: 443, externalCIDRs: ["198.51.100.0/24"] } }));
    await enclaves.create({
      apiVersion: `${GROUP}/${VERSION}`,
      kind: "AgentEnclave",
      metadata: { name: "proj" },
      spec: { toolServers: ["search", "saas"], egress: [{ cidr: "203.0.113.0/24", ports: [{ port: 443 }] }] },
    });
    const e = await waitFor("enclave Ready", async () => {
      const o = await enclaves.get("proj");
      return cond(o, "Ready")?.status === "True" ? o : undefined;
    });
    expect(e.status?.networkPolicies).toEqual([
      "warden-agent-egress",
      "warden-allow-dns",
      "warden-default-deny",
      "warden-tool-server-search",
    ]);
    expect((await core.readNamespace({ name: ns })).metadata?.labels).toMatchObject({
      "warden.dev/enclave": "proj",
      "pod-security.kubernetes.io/enforce": "restricted",
      "pod-security.kubernetes.io/enforce-version": "latest",
    });

    expect((await getNetpol("warden-default-deny"))?.spec).toEqual({
      podSelector: {},
      policyTypes: ["Ingress", "Egress"],
    });
    expect((await getNetpol("warden-allow-dns"))?.spec).toEqual({
      podSelector: {},
      policyTypes: ["Egress"],
      egress: [
        {
          to: [
            {
              namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "kube-system" } },
              podSelector: { matchLabels: { "k8s-app": "kube-dns" } },
            },
          ],
          ports: [
            { protocol: "UDP", port: 53 },
            { protocol: "TCP", port: 53 },
          ],
        },
      ],
    });
    // Agents: the issuer (SVID), the external server's CIDR, the in-cluster server's inbound
    // gateway (never its own port 8443), the enclave's CIDR. Nothing else, the API server included.
    expect((await getNetpol("warden-agent-egress"))?.spec).toEqual({
      podSelector: AGENTS,
      policyTypes: ["Egress"],
      egress: [
        issuerEgress(),
        { to: [{ ipBlock: { cidr: "198.51.100.0/24" } }], ports: [{ protocol: "TCP", port: 443 }] },
        {
          to: [{ podSelector: { matchLabels: { "warden.dev/tool-server": "search" } } }],
          ports: [{ protocol: "TCP", port: 15443 }],
        },
        { to: [{ ipBlock: { cidr: "203.0.113.0/24" } }], ports: [{ protocol: "TCP", port: 443 }] },
      ],
    });
    const toolServer = await getNetpol("warden-tool-server-search");
    // Tool servers: agents in, on the inbound gateway's port only; out, the issuer only.
    expect(toolServer?.spec).toEqual({
      podSelector: { matchLabels: { "warden.dev/tool-server": "search" } },
      policyTypes: ["Ingress", "Egress"],
      ingress: [{ from: [{ podSelector: AGENTS }], ports: [{ protocol: "TCP", port: 15443 }] }],
      egress: [issuerEgress()],
    });
    expect(toolServer?.metadata.ownerReferences?.[0]?.kind).toBe("AgentEnclave");
  });

  it("publishes the trust bundle into the namespace it labels at once, not at the next resync", async () => {
    // The resync is an hour (see beforeAll): the bound is far from it, not a measure of speed.
    const cm = await waitFor(
      "warden-trust-bundle in the enclave's namespace",
      async () => {
        try {
          return await core.readNamespacedConfigMap({ name: "warden-trust-bundle", namespace: ns });
        } catch {
          return undefined;
        }
      },
      120_000,
    );
    expect(cm.data?.["bundle.pem"]).toMatch(/^-----BEGIN CERTIFICATE-----/);
    expect(Object.keys(cm.data ?? {}).sort()).toEqual(["bundle.jwks.json", "bundle.pem"]);
  });

  it("follows a change of the enclave", async () => {
    await enclaves.patch("proj", { spec: { egress: [{ cidr: "192.0.2.0/24", ports: [{ port: 5432 }] }] } });
    await waitFor("agent egress updated", async () => {
      const egress = (await getNetpol("warden-agent-egress"))?.spec.egress as {
        to: { ipBlock?: { cidr: string } }[];
      }[];
      return (
        egress?.some((r) => r.to[0]?.ipBlock?.cidr === "192.0.2.0/24") &&
        !egress.some((r) => r.to[0]?.ipBlock?.cidr === "203.0.113.0/24")
      );
    });
  });

  it("restores a NetworkPolicy deleted or edited by hand", async () => {
    await net.deleteNamespacedNetworkPolicy({ name: "warden-default-deny", namespace: ns });
    await waitFor("default-deny restored", async () => (await getNetpol("warden-default-deny"))?.spec);
    await custom.patchNamespacedCustomObject(
      {
        group: "networking.k8s.io",
        version: "v1",
        namespace: ns,
        plural: "networkpolicies",
        name: "warden-allow-dns",
        body: { spec: { egress: [{}] } },
      },
      k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
    );
    await waitFor("allow-dns repaired", async () => {
      const egress = (await getNetpol("warden-allow-dns"))?.spec.egress as { ports?: unknown[] }[];
      return egress?.length === 1 && egress[0]?.ports?.length === 2;
    });
  });

  it("restores its RoleBinding deleted or edited by hand", async () => {
    const name = "agent-warden-operator";
    const read = () => rbacApi.readNamespacedRoleBinding({ name, namespace: ns }).catch(() => undefined);
    const original = await waitFor("the enclave's RoleBinding", read);
    await rbacApi.deleteNamespacedRoleBinding({ name, namespace: ns });
    const restored = await waitFor(
      "RoleBinding restored",
      async () => {
        const rb = await read();
        return rb && rb.metadata?.uid !== original.metadata?.uid ? rb : undefined;
      },
      15_000,
    );
    expect(restored.roleRef).toEqual(original.roleRef);
    expect(restored.subjects).toEqual(original.subjects);
    // An extra subject would hand the enclave role to someone else: it is taken out again.
    await rbacApi.patchNamespacedRoleBinding(
      {
        name,
        namespace: ns,
        body: {
          subjects: [
            ...(original.subjects ?? []),
            { kind: "ServiceAccount", name: "intruder", namespace: ns },
          ],
        },
      },
      k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
    );
    await waitFor(
      "RoleBinding subjects repaired",
      async () => JSON.stringify((await read())?.subjects) === JSON.stringify(original.subjects),
      15_000,
    );
    // Once restored, a matching binding in the cache is not written again.
    await waitFor(
      "RoleBinding write skipped",
      async () => (await op.metric("warden_operator_writes_skipped_total", { resource: "rolebindings" })) > 0,
      15_000,
    );
  });

  it("an exemption's egress applies until expiresAt and then really stops", async () => {
    const expiresAt = new Date(Date.now() + 12_000).toISOString().replace(/\.\d{3}Z$/, "Z");
    await enclaves.patch("proj", {
      spec: {
        exemptions: [
          {
            name: "migration",
            egress: [{ cidr: "192.0.2.77/32" }],
            agents: ["bot"],
            startsAt: new Date(Date.now() - 60_000).toISOString().replace(/\.\d{3}Z$/, "Z"),
            expiresAt,
            reason: "one-off data migration",
          },
        ],
      },
    });
    const ex = await waitFor("exemption policy", () => getNetpol("warden-exemption-migration"));
    expect(ex.spec).toEqual({
      podSelector: { matchExpressions: [{ key: "warden.dev/agent", operator: "In", values: ["bot"] }] },
      policyTypes: ["Egress"],
      egress: [{ to: [{ ipBlock: { cidr: "192.0.2.77/32" } }] }],
    });
    // The status is written just after the NetworkPolicies: wait for it, but while it is active.
    await waitFor(
      "status lists the exemption",
      async () =>
        JSON.stringify((await enclaves.get("proj")).status?.activeExemptions) ===
        JSON.stringify(["migration"]),
      5_000,
    );
    expect(Date.now()).toBeLessThan(Date.parse(expiresAt));
    await waitFor(
      "exemption expired",
      async () => (await getNetpol("warden-exemption-migration")) === undefined,
      30_000,
    );
    expect(Date.now()).toBeGreaterThanOrEqual(Date.parse(expiresAt));
    await waitFor(
      "status without the exemption",
      async () =>
        ((await enclaves.get("proj")).status?.activeExemptions as string[] | undefined)?.length === 0,
    );
  });

  it("has the API server's own Pod Security admission refuse non-restricted pods (no webhook needed)", async () => {
    // No agent-warden webhook is registered for this namespace: only the label the operator wrote
    // stands between these pods and the cluster.
    const pod = (
      name: string,
      securityContext: k8s.V1SecurityContext,
      podSc: k8s.V1PodSecurityContext = {},
    ) => ({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name },
      spec: {
        securityContext: { runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" }, ...podSc },
        containers: [{ name: "c", image: "registry.example/c:1", securityContext }],
      },
    });
    const hardened = { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } };
    const refusal = async (body: unknown) => {
      try {
        await core.createNamespacedPod({ namespace: ns, body: body as k8s.V1Pod, dryRun: "All" });
        return "admitted";
      } catch (err) {
        const body = (err as { body?: string }).body;
        return body ? (JSON.parse(body) as { message: string }).message : String(err);
      }
    };
    expect(await refusal(pod("privileged", { capabilities: { drop: ["ALL"] }, privileged: true }))).toMatch(
      /violates PodSecurity "restricted/,
    );
    expect(await refusal(pod("selinux", hardened, { seLinuxOptions: { type: "spc_t" } }))).toMatch(
      /violates PodSecurity "restricted/,
    );
    expect(await refusal(pod("escalation", { capabilities: { drop: ["ALL"] } }))).toMatch(
      /violates PodSecurity "restricted/,
    );
    expect(await refusal(pod("fine", hardened))).toBe("admitted");
  });

  it("refuses a second enclave in the same namespace", async () => {
    await enclaves.create({
      apiVersion: `${GROUP}/${VERSION}`,
      kind: "AgentEnclave",
      metadata: { name: "intruder" },
      spec: {},
    });
    const o = await waitFor("second enclave refused", async () => {
      const x = await enclaves.get("intruder");
      return cond(x, "Ready")?.reason === "DuplicateEnclave" ? x : undefined;
    });
    expect(cond(o, "Ready")?.message).toContain("proj");
    expect((await core.readNamespace({ name: ns })).metadata?.labels?.["warden.dev/enclave"]).toBe("proj");
    await enclaves.delete("intruder");
  });
});

describe("AgentIdentity, ToolManifest and policy", () => {
  const identity = (name: string, spec: Record<string, unknown>) => ({
    apiVersion: `${GROUP}/${VERSION}`,
    kind: "AgentIdentity",
    metadata: { name },
    spec: { enclave: "proj", agentType: "research", ...spec },
  });
  const readPolicy = async (agent: string) => {
    const cm = await core.readNamespacedConfigMap({ name: `warden-policy-${agent}`, namespace: ns });
    return gatewayPolicy.parse(JSON.parse(cm.data?.["policy.json"] ?? "null"));
  };

  it("makes the ServiceAccount, the policy and a Ready status", async () => {
    await identities.create(
      identity("bot", {
        sponsor: { name: "alice" },
        grants: [
          {
            manifest: { name: "search" },
            tools: [{ name: "web_search", arguments: [{ argument: "q", maxLength: 100 }] }],
          },
        ],
      }),
    );
    const o = await waitFor("identity Ready", async () => {
      const x = await identities.get("bot");
      return cond(x, "Ready")?.status === "True" ? x : undefined;
    });
    expect(o.status).toMatchObject({
      spiffeID: `spiffe://cluster.local/ns/${ns}/sa/bot`,
      serviceAccountName: "bot",
      effectiveTTL: "15m",
      policy: { configMap: "warden-policy-bot" },
    });
    expect(o.status?.lastIssued).toBeUndefined();
    const sa = await core.readNamespacedServiceAccount({ name: "bot", namespace: ns });
    expect(sa.automountServiceAccountToken).toBe(false);
    expect(sa.metadata?.labels).toMatchObject({
      "warden.dev/agent": "bot",
      "warden.dev/enclave": "proj",
      "app.kubernetes.io/managed-by": "agent-warden",
    });
    expect(sa.metadata?.ownerReferences?.[0]).toMatchObject({
      kind: "AgentIdentity",
      name: "bot",
      uid: o.metadata.uid,
      controller: true,
    });
    const policy = await readPolicy("bot");
    expect(policy.servers.map((s) => s.manifest)).toEqual(["search"]);
    expect(policy.servers[0]?.tools[0]).toMatchObject({
      name: "web_search",
      risk: "Low",
      arguments: [{ argument: "q", maxLength: 100 }],
    });
    expect(policy.servers[0]?.tools[0]?.digest).toMatch(/^sha256:/);
    expect(o.status?.policy).toMatchObject({ version: policy.version });
    const tm = await manifests.get("search");
    expect(cond(tm, "Accepted")?.status).toBe("True");
    const inbound = await waitFor("inbound policy lists the agent", async () => {
      const cm = await core.readNamespacedConfigMap({ name: "warden-inbound-search", namespace: ns });
      const p = inboundPolicy.parse(JSON.parse(cm.data?.["policy.json"] ?? "null"));
      return p.allowedCallers.includes(`spiffe://cluster.local/ns/${ns}/sa/bot`) ? p : undefined;
    });
    expect(inbound.manifest).toBe("search");
    await waitFor("boundAgents", async () => (await manifests.get("search")).status?.boundAgents === 1);
  });

  it("projects a granted server's credential into the agent's credentials Secret, follows rotation, removes it with the grant", async () => {
    const b64 = (v: string) => Buffer.from(v).toString("base64");
    const readProjected = () =>
      core
        .readNamespacedSecret({ name: "warden-credentials-cred-bot", namespace: ns })
        .catch(() => undefined);
    const nudge = (n: number) =>
      identities.patch("cred-bot", { metadata: { annotations: { "test.warden.dev/nudge": String(n) } } });
    await manifests.patch("saas", { spec: { credential: { secretName: "saas-cred", key: "token" } } });
    await identities.create(
      identity("cred-bot", { grants: [{ manifest: { name: "saas" }, tools: [{ name: "web_search" }] }] }),
    );
    // The source Secret does not exist yet: said so, and nothing invented.
    const missing = await waitFor("CredentialsReady False", async () => {
      const c = cond(await identities.get("cred-bot"), "CredentialsReady");
      return c?.status === "False" ? c : undefined;
    });
    expect(missing.reason).toBe("SecretNotFound");
    expect(missing.message).toContain("Secret saas-cred does not exist");
    expect((await readProjected())?.data ?? {}).toEqual({});

    await core.createNamespacedSecret({
      namespace: ns,
      body: { metadata: { name: "saas-cred" }, stringData: { token: "v1", unrelated: "never-copied" } },
    });
    await nudge(1);
    const projected = await waitFor("credential projected", async () => {
      const s = await readProjected();
      return s?.data?.saas === b64("v1") ? s : undefined;
    });
    // Only the named key, under the ToolManifest's name; owned by the identity (GC with it).
    expect(Object.keys(projected.data ?? {})).toEqual(["saas"]);
    expect(projected.metadata?.ownerReferences?.[0]).toMatchObject({
      kind: "AgentIdentity",
      name: "cred-bot",
    });
    expect(projected.metadata?.labels).toMatchObject({ "warden.dev/agent": "cred-bot" });
    await waitFor(
      "CredentialsReady True",
      async () => cond(await identities.get("cred-bot"), "CredentialsReady")?.status === "True",
    );
    // The policy names the source Secret; the gateway reads the projected file by manifest name.
    const policy = await readPolicy("cred-bot");
    expect(policy.servers[0]?.credential).toMatchObject({ secretName: "saas-cred", key: "token" });

    // Rotation of the source Secret reaches the projection on the next reconcile.
    await core.patchNamespacedSecret(
      { name: "saas-cred", namespace: ns, body: { stringData: { token: "v2" } } },
      k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
    );
    await nudge(2);
    await waitFor(
      "rotated credential projected",
      async () => (await readProjected())?.data?.saas === b64("v2"),
    );

    // The grant goes: so do the projected credentials and the condition.
    await identities.patch("cred-bot", { spec: { grants: [] } });
    await waitFor("projected Secret deleted", async () => (await readProjected()) === undefined);
    await waitFor(
      "CredentialsReady gone",
      async () => cond(await identities.get("cred-bot"), "CredentialsReady") === undefined,
    );
    await identities.delete("cred-bot");
    await manifests.patch("saas", { spec: { credential: null } });
  });

  it("refuses what it must, with reasons a person can act on", async () => {
    await identities.create(identity("twin", { serviceAccountName: "bot" }));
    await identities.create(
      identity("cross", {
        grants: [{ manifest: { name: "search", namespace: "elsewhere" }, tools: [{ name: "fetch" }] }],
      }),
    );
    await identities.create(identity("orphan", { enclave: "nope" }));
    await identities.create(
      identity("typo", { grants: [{ manifest: { name: "search" }, tools: [{ name: "web_serch" }] }] }),
    );
    const reason = (name: string, type: string) => async () => cond(await identities.get(name), type)?.reason;
    expect(
      await waitFor("twin refused", async () =>
        (await reason("twin", "Ready")()) === "DuplicateSpiffeID" ? true : undefined,
      ),
    ).toBe(true);
    await waitFor(
      "cross refused",
      async () => (await reason("cross", "Ready")()) === "CrossNamespaceReference",
    );
    await waitFor("orphan refused", async () => (await reason("orphan", "Ready")()) === "EnclaveNotFound");
    await waitFor(
      "typo reported",
      async () => (await reason("typo", "ToolsBound")()) === "ToolNotInManifest",
    );
    expect(cond(await identities.get("typo"), "ToolsBound")?.message).toContain("web_serch");
    // The older claimant keeps its ServiceAccount.
    const sa = await core.readNamespacedServiceAccount({ name: "bot", namespace: ns });
    expect(sa.metadata?.ownerReferences?.[0]?.name).toBe("bot");
  });

  it("fails closed: an admitted identity that becomes refused gets a deny-all policy with the reason", async () => {
    await identities.create(
      identity("flip", { grants: [{ manifest: { name: "search" }, tools: [{ name: "web_search" }] }] }),
    );
    await waitFor("flip's policy grants web_search", async () => {
      const p = await readPolicy("flip").catch(() => undefined);
      return p?.servers[0]?.tools[0]?.name === "web_search";
    });
    await identities.patch("flip", {
      spec: {
        grants: [{ manifest: { name: "search", namespace: "elsewhere" }, tools: [{ name: "web_search" }] }],
      },
    });
    const denied = await waitFor("flip's policy denies everything", async () => {
      const p = await readPolicy("flip");
      return p.agent.refused ? p : undefined;
    });
    expect(denied.agent).toMatchObject({
      suspended: true,
      refused: { reason: "CrossNamespaceReference", message: expect.stringContaining("elsewhere") },
    });
    expect(denied.servers).toEqual([]);
    expect(denied.taskTokens).toEqual({ required: true, issuers: [] });
    // The status follows the ConfigMap write: it names the deny-all version.
    const o = await waitFor("flip's status names the deny-all policy", async () => {
      const x = await identities.get("flip");
      return (x.status?.policy as { version?: string } | undefined)?.version === denied.version
        ? x
        : undefined;
    });
    expect(cond(o, "Ready")?.reason).toBe("CrossNamespaceReference");
    await identities.delete("flip");
  });

  it("picks up a change of a task-token JWKS ConfigMap from its own event, not the resync", async () => {
    const jwks = (kid: string) => ({
      "jwks.json": JSON.stringify({ keys: [{ kty: "EC", crv: "P-256", kid, x: "AA", y: "AA" }] }),
    });
    await core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: "task-jwks" }, data: jwks("k1") },
    });
    await enclaves.patch("proj", {
      spec: { taskTokenIssuers: [{ issuer: "https://orchestrator.test", jwksConfigMap: "task-jwks" }] },
    });
    const kids = async () =>
      (await readPolicy("bot")).taskTokens.issuers.flatMap((i) => i.jwks.keys.map((k) => k.kid));
    await waitFor("bot's policy has k1", async () => (await kids()).join() === "k1");
    // The resync period is 10 minutes: only the ConfigMap's own event can bring k2 well before it
    // (the bound is far from the resync, not a measure of this machine's speed).
    await core.replaceNamespacedConfigMap({
      name: "task-jwks",
      namespace: ns,
      body: { metadata: { name: "task-jwks" }, data: jwks("k2") },
    });
    await waitFor("bot's policy has k2", async () => (await kids()).join() === "k2", 120_000);
    await enclaves.patch("proj", { spec: { taskTokenIssuers: null } });
    await waitFor("bot's policy without issuers", async () => (await kids()).length === 0);
    await core.deleteNamespacedConfigMap({ name: "task-jwks", namespace: ns });
  });

  it("a sponsor is required where the enclave says so", async () => {
    await enclaves.patch("proj", { spec: { requireSponsor: true } });
    await identities.create(identity("nosponsor", {}));
    await waitFor(
      "SponsorRequired",
      async () => cond(await identities.get("nosponsor"), "SVIDIssuable")?.reason === "SponsorRequired",
    );
    expect(cond(await identities.get("bot"), "Ready")?.status).toBe("True");
    await enclaves.patch("proj", { spec: { requireSponsor: false } });
    await waitFor(
      "sponsor no longer required",
      async () => cond(await identities.get("nosponsor"), "Ready")?.status === "True",
    );
  });

  it("compiles resources, prompts, completion and client features within the ToolManifest, and admits a resources-only agent", async () => {
    await manifests.patch("search", {
      spec: {
        resources: { uriPatterns: ["file:///docs/*"], subscribe: false },
        prompts: ["summarize"],
        completion: true,
        clientFeatures: { sampling: true },
      },
    });
    await identities.create(
      identity("reader", {
        grants: [
          {
            manifest: { name: "search" },
            resources: { uriPatterns: ["file:///docs/public/*"] },
            prompts: ["summarize"],
            completion: true,
            clientFeatures: { sampling: true },
          },
        ],
      }),
    );
    const policy = await waitFor("reader's policy carries the surface", async () => {
      const p = await readPolicy("reader").catch(() => undefined);
      return p?.servers[0]?.resources ? p : undefined;
    });
    expect(policy.servers[0]).toMatchObject({
      manifest: "search",
      tools: [],
      resources: { uriPatterns: ["file:///docs/public/*"], subscribe: false },
      prompts: ["summarize"],
      completion: true,
      clientFeatures: { sampling: true, elicitation: false, roots: false },
    });
    expect(cond(await identities.get("reader"), "ToolsBound")?.status).toBe("True");
    // No tool granted, yet the inbound gateway must admit it: it may read resources there.
    await waitFor("inbound policy admits the resources-only agent", async () => {
      const cm = await core.readNamespacedConfigMap({ name: "warden-inbound-search", namespace: ns });
      const p = inboundPolicy.parse(JSON.parse(cm.data?.["policy.json"] ?? "null"));
      return p.allowedCallers.includes(`spiffe://cluster.local/ns/${ns}/sa/reader`) || undefined;
    });

    // Asking for more than the manifest allows: the excess is left out and ToolsBound says which field.
    await identities.patch("reader", {
      spec: {
        grants: [
          {
            manifest: { name: "search" },
            resources: { uriPatterns: ["file:///docs/public/*", "file:///etc/*"] },
            prompts: ["summarize", "exfiltrate"],
            logging: true,
          },
        ],
      },
    });
    await waitFor(
      "ToolsBound False",
      async () => cond(await identities.get("reader"), "ToolsBound")?.status === "False" || undefined,
    );
    expect(cond(await identities.get("reader"), "ToolsBound")?.message).toMatch(
      /file:\/\/\/etc\/\*.*not within the ToolManifest's spec\.resources\.uriPatterns/,
    );
    const narrowed = await waitFor("policy without the excess", async () => {
      const p = await readPolicy("reader");
      return p.servers[0]?.prompts?.length === 1 && !p.servers[0]?.clientFeatures ? p : undefined;
    });
    expect(narrowed.servers[0]).toMatchObject({
      resources: { uriPatterns: ["file:///docs/public/*"] },
      prompts: ["summarize"],
    });
    expect(narrowed.servers[0]).not.toHaveProperty("logging");

    // The API server itself refuses an escaping pattern, naming the field.
    await expect(
      identities.patch("reader", {
        spec: {
          grants: [{ manifest: { name: "search" }, resources: { uriPatterns: ["file:///docs/../etc/*"] } }],
        },
      }),
    ).rejects.toThrow(/uriPatterns\[0\].*'\.\.' path segments/);
    await identities.delete("reader");
    await manifests.patch("search", {
      spec: { resources: null, prompts: null, completion: null, clientFeatures: null },
    });
  });

  it("accepts a resources-only ToolManifest (no tools) and compiles a grant of it; the API server refuses one that offers nothing", async () => {
    const docs = manifest("docs", { resources: { uriPatterns: ["file:///docs/*"], subscribe: false } });
    await manifests.create({ ...docs, spec: { ...docs.spec, tools: undefined } });
    const accepted = await waitFor("docs Accepted", async () => {
      const c = cond(await manifests.get("docs"), "Accepted");
      return c?.status === "True" ? c : undefined;
    });
    expect(accepted.message).toBe("No tools; accepted for resources.");
    await enclaves.patch("proj", { spec: { toolServers: ["search", "saas", "docs"] } });
    await identities.create(
      identity("librarian", {
        grants: [{ manifest: { name: "docs" }, resources: { uriPatterns: ["file:///docs/public/*"] } }],
      }),
    );
    const policy = await waitFor("librarian's policy has the docs server", async () => {
      const p = await readPolicy("librarian").catch(() => undefined);
      return p?.servers.find((x) => x.manifest === "docs") ? p : undefined;
    });
    expect(policy.servers.find((x) => x.manifest === "docs")).toMatchObject({
      tools: [],
      resources: { uriPatterns: ["file:///docs/public/*"], subscribe: false },
    });
    await waitFor(
      "librarian ToolsBound",
      async () => cond(await identities.get("librarian"), "ToolsBound")?.status === "True" || undefined,
    );
    await waitFor("inbound policy of docs admits the librarian", async () => {
      const cm = await core.readNamespacedConfigMap({ name: "warden-inbound-docs", namespace: ns });
      const p = inboundPolicy.parse(JSON.parse(cm.data?.["policy.json"] ?? "null"));
      return p.allowedCallers.includes(`spiffe://cluster.local/ns/${ns}/sa/librarian`) || undefined;
    });
    // Nothing at all: refused by the API server (CEL), naming spec.tools and what to set instead.
    const nothing = manifest("nothing");
    await expect(manifests.create({ ...nothing, spec: { ...nothing.spec, tools: [] } })).rejects.toThrow(
      /spec\.tools.*list the server's tools in spec\.tools, or set spec\.resources/,
    );
    await identities.delete("librarian");
    await enclaves.patch("proj", { spec: { toolServers: ["search", "saas"] } });
    await manifests.delete("docs");
  });

  it("deleting a ToolManifest unbinds its agents with a reason and removes it from their policy", async () => {
    await manifests.delete("search");
    await waitFor(
      "ToolsBound False",
      async () => cond(await identities.get("bot"), "ToolsBound")?.reason === "ManifestNotFound",
    );
    expect(cond(await identities.get("bot"), "ToolsBound")?.message).toContain("search");
    const policy = await waitFor("policy without the server", async () => {
      const p = await readPolicy("bot");
      return p.servers.length === 0 ? p : undefined;
    });
    expect((await identities.get("bot")).status?.policy).toMatchObject({ version: policy.version });
    // The enclave no longer opens egress to it (and reports it missing).
    await waitFor(
      "tool-server policy removed",
      async () => (await getNetpol("warden-tool-server-search")) === undefined,
    );
    await waitFor(
      "enclave reports the missing server",
      async () => cond(await enclaves.get("proj"), "Ready")?.reason === "ToolManifestNotFound",
    );
    // Recreating it binds again.
    await manifests.create(manifest("search"));
    await waitFor(
      "ToolsBound again",
      async () => cond(await identities.get("bot"), "ToolsBound")?.status === "True",
    );
  });

  it("refuses a ToolManifest whose pinned digest does not match its definition", async () => {
    const bad = manifest("pinned");
    (bad.spec.tools[0] as Record<string, unknown>).digest = `sha256:${"0".repeat(64)}`;
    await manifests.create(bad);
    await waitFor(
      "DigestMismatch",
      async () => cond(await manifests.get("pinned"), "Accepted")?.reason === "DigestMismatch",
    );
    expect(cond(await manifests.get("pinned"), "Accepted")?.message).toContain("web_search");
  });

  it("reconciled without errors and skipped unchanged writes", async () => {
    expect(await op.metric("warden_operator_reconcile_total", { kind: "AgentIdentity" })).toBeGreaterThan(0);
    expect(await op.metric("warden_operator_writes_skipped_total")).toBeGreaterThan(0);
    const text = await op.metrics();
    // No per-agent label values on operator metrics.
    expect(text).not.toMatch(/warden_operator_[a-z_]+\{[^}]*(bot|nosponsor)/);
    expect(op.logs.filter((l) => l.includes('"level":"error"'))).toEqual([]);
  });
});
