// The issuer end to end on a real API server: TokenReview, bound pods, AgentIdentity/AgentEnclave
// reads, status writes, Secret delivery. The test plays the gateway sidecar with the real client.
import * as https from "node:https";
import type * as k8s from "@kubernetes/client-node";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GROUP, VERSION } from "../../api/v1alpha1/common.ts";
import { KINDS } from "../../api/v1alpha1/kinds.ts";
import { LABEL_AGENT, LABEL_TOOL_SERVER } from "../../api/v1alpha1/labels.ts";
import { certsFromPem, generateP256 } from "../../lib/identity/crypto.ts";
import { createCSR } from "../../lib/identity/csr.ts";
import { httpsTransport, IssuerRequestError, SvidClient } from "../../lib/identity/svid-client.ts";
import { verifyX509SVID } from "../../lib/identity/x509-svid.ts";
import { createLogger } from "../../lib/log.ts";
import type { IdentityServices } from "../../operator/identity/contract.ts";
import { startIdentityServices } from "../../operator/identity/index.ts";
import {
  clients,
  createIdentity,
  createPod,
  createServiceAccount,
  enclaveFixture,
  fakeLeader,
  fixtureIdentityDeps,
  issuerToken,
  patchIdentitySpec,
  TEST_SIDECAR,
  waitFor,
} from "../support/identity.ts";

const TD = "issuer.test.warden.dev";
let fx: Awaited<ReturnType<typeof enclaveFixture>>;
let svc: IdentityServices;
const registry = new Registry();

beforeAll(async () => {
  fx = await enclaveFixture("issuer");
  svc = await startIdentityServices(
    fixtureIdentityDeps(fx, {
      log: createLogger("identity-test", { level: "warn" }),
      registry,
      trustDomain: TD,
      issuer: { ttlOverride: "8s", statusInterval: "2s", rateLimit: { perSecond: 5, burst: 30 } },
      leader: fakeLeader(true),
    }),
  );
});
afterAll(async () => {
  await svc?.stop();
  await fx?.cleanup();
});

const transport = () => httpsTransport({ issuerURL: svc.issuerURL, bundle: async () => svc.bundlePem() });

async function agent(name: string, spec: Record<string, unknown> = {}) {
  await createServiceAccount(fx.namespace, name);
  await createIdentity(fx.namespace, name, spec);
  const pod = await createPod(fx.namespace, `${name}-pod`, name, { [LABEL_AGENT]: name });
  return {
    pod,
    token: await issuerToken(fx.namespace, name, pod),
    id: `spiffe://${TD}/ns/${fx.namespace}/sa/${name}`,
  };
}

/** One x509-svid request with a fresh client; the refusal's status, reason and message. */
async function rawAttempt(token: string): Promise<{ status?: number; reason?: string; message: string }> {
  const client = new SvidClient({
    trustDomain: TD,
    readToken: async () => token,
    requestSVID: transport().x509,
    trustBundle: async () => svc.bundlePem(),
  });
  await client.start();
  await client.stop();
  if (client.ready()) return { message: "issued" };
  const err = client.lastError();
  return err instanceof IssuerRequestError
    ? { status: err.status, reason: err.reason, message: err.message }
    : { message: String(err) };
}

/** One x509-svid request with a fresh client; resolves to the refusal reason or "issued". */
async function attempt(token: string): Promise<string> {
  const client = new SvidClient({
    trustDomain: TD,
    readToken: async () => token,
    requestSVID: transport().x509,
    trustBundle: async () => svc.bundlePem(),
  });
  await client.start();
  await client.stop();
  if (client.ready()) return "issued";
  const err = client.lastError();
  return err instanceof IssuerRequestError ? `${err.status} ${err.reason}` : String(err);
}

describe("issuer on a real API server", () => {
  it("issues an SVID to a bound agent pod and renews it again and again with a new key, never expiring", async () => {
    const a = await agent("bot");
    const client = new SvidClient({
      expectedID: a.id,
      trustDomain: TD,
      readToken: async () => a.token,
      requestSVID: transport().x509,
      trustBundle: async () => svc.bundlePem(),
    });
    const seen: { serial: string; key: string; notAfter: Date; at: number }[] = [];
    client.onUpdate((s) =>
      seen.push({ serial: s.serial, key: s.keyPem, notAfter: s.notAfter, at: Date.now() }),
    );
    await client.start();
    expect(client.ready()).toBe(true);
    expect(client.current()!.spiffeID).toBe(a.id);
    let gaps = 0;
    const until = Date.now() + 20_000;
    while (Date.now() < until && seen.length < 4) {
      if (!client.ready()) gaps++;
      await new Promise((r) => setTimeout(r, 100));
    }
    await client.stop();
    expect(gaps).toBe(0);
    expect(new Set(seen.map((s) => s.serial)).size).toBeGreaterThanOrEqual(3);
    expect(new Set(seen.map((s) => s.key)).size).toBe(seen.length);
    // Each renewal arrived before the previous SVID expired.
    for (let i = 1; i < seen.length; i++) expect(seen[i]!.at).toBeLessThan(seen[i - 1]!.notAfter.getTime());
    // The chain verifies against the published bundle ConfigMap.
    const cm = await fx.core.readNamespacedConfigMap({
      name: "warden-trust-bundle",
      namespace: fx.namespace,
    });
    expect(cm.data?.["bundle.jwks.json"]).toContain("x509-svid");
    // status.lastIssued is recorded (coalesced) by the issuer's field manager.
    const status = await waitFor("status.lastIssued", async () => {
      const obj = (await fx.custom.getNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace: fx.namespace,
        plural: KINDS.AgentIdentity.plural,
        name: "bot",
      })) as {
        status?: { lastIssued?: { serial: string; notAfter: string } };
        metadata: { managedFields?: { manager: string }[] };
      };
      return obj.status?.lastIssued ? obj : undefined;
    });
    expect(seen.map((s) => s.serial)).toContain(status.status!.lastIssued!.serial);
    expect(status.metadata.managedFields?.some((f) => f.manager === "agent-warden-issuer")).toBe(true);
  });

  it("issues a JWT-SVID only for audiences the identity lists", async () => {
    const a = await agent("jwt-bot", { svid: { jwtAudiences: ["https://tools.example"] } });
    const t = transport();
    const res = await t.jwt("https://tools.example", a.token);
    expect(res.spiffeID).toBe(a.id);
    await expect(t.jwt("https://other.example", a.token)).rejects.toMatchObject({
      status: 403,
      reason: "AudienceNotAllowed",
    });
  });

  it("issues to a tool-server pod whose ServiceAccount its ToolManifest names, and refuses another SA", async () => {
    await createServiceAccount(fx.namespace, "search");
    await fx.custom.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: fx.namespace,
      plural: KINDS.ToolManifest.plural,
      body: {
        apiVersion: "warden.dev/v1alpha1",
        kind: "ToolManifest",
        metadata: { name: "search" },
        spec: {
          endpoint: `https://search.${fx.namespace}.svc:8443/mcp`,
          server: { serviceAccountName: "search", port: 8443 },
          tools: [{ name: "web_search" }],
        },
      },
    });
    const pod = await createPod(fx.namespace, "search-pod", "search", { [LABEL_TOOL_SERVER]: "search" });
    expect(await attempt(await issuerToken(fx.namespace, "search", pod))).toBe("issued");
    await createServiceAccount(fx.namespace, "fake-search");
    const impostor = await createPod(fx.namespace, "fake-search-pod", "fake-search", {
      [LABEL_TOOL_SERVER]: "search",
    });
    expect(await attempt(await issuerToken(fx.namespace, "fake-search", impostor))).toBe(
      "403 ServiceAccountMismatch",
    );
  });

  it("refuses a token for another ServiceAccount", async () => {
    await agent("victim");
    await createServiceAccount(fx.namespace, "intruder");
    const pod = await createPod(fx.namespace, "intruder-pod", "intruder", { [LABEL_AGENT]: "victim" });
    expect(await attempt(await issuerToken(fx.namespace, "intruder", pod))).toBe(
      "403 ServiceAccountMismatch",
    );
  });

  it("refuses an unbound token, an expired token and garbage", async () => {
    await agent("unbound");
    expect(await attempt(await issuerToken(fx.namespace, "unbound"))).toBe("401 TokenNotBoundToPod");
    const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");
    const expired = `${b64({ alg: "RS256" })}.${b64({ exp: Math.floor(Date.now() / 1000) - 60 })}.sig`;
    expect(await attempt(expired)).toBe("401 TokenInvalid");
    const forged = `${b64({ alg: "RS256" })}.${b64({ exp: Math.floor(Date.now() / 1000) + 600, sub: "system:serviceaccount:x:y" })}.sig`;
    expect(await attempt(forged)).toBe("401 TokenInvalid");
    expect(await attempt("not-a-token")).toBe("401 TokenInvalid");
  });

  it("refuses a token for another audience", async () => {
    const a = await agent("wrong-aud");
    const { core } = clients();
    const res = await core.createNamespacedServiceAccountToken({
      namespace: fx.namespace,
      name: "wrong-aud",
      body: {
        spec: {
          audiences: ["https://kubernetes.default.svc"],
          boundObjectRef: {
            kind: "Pod",
            apiVersion: "v1",
            name: a.pod.metadata!.name!,
            uid: a.pod.metadata!.uid!,
          },
        },
      },
    });
    expect(await attempt(res.status?.token ?? "")).toMatch(/^401 Token(Invalid|WrongAudience)$/);
  });

  // A pod that escaped admission (created here with no webhook registered, as a bypass would let it
  // through) must not become an identity: the issuer re-runs the pod rules on the pod it reads.
  type Bypass = [name: string, edit: (pod: k8s.V1Pod) => void, rule: string];
  const BYPASSES: Bypass[] = [
    [
      "no sidecar at all",
      (p) => {
        p.spec!.initContainers = [];
        p.spec!.volumes = [];
        delete p.metadata!.annotations;
      },
      "gateway.present",
    ],
    [
      "sidecar image swapped after injection",
      (p) => {
        p.spec!.initContainers![0]!.image = "evil.example/gateway:1";
      },
      "gateway.unmodified",
    ],
    [
      "issuer token mounted into the agent container",
      (p) => {
        p.spec!.containers[0]!.volumeMounts = [
          { name: "warden-issuer-token", mountPath: "/var/run/warden/token", readOnly: true },
        ];
      },
      "pod.issuerTokenOnlyInSidecar",
    ],
    [
      "agent container runs as the gateway's UID",
      (p) => {
        p.spec!.containers[0]!.securityContext = { runAsUser: TEST_SIDECAR.runAsUser };
      },
      "gateway.sharedUser",
    ],
  ];

  it.each(BYPASSES)("refuses an SVID to a pod that escaped admission: %s", async (name, edit, rule) => {
    const sa = `bypass-${BYPASSES.findIndex((b) => b[0] === name)}`;
    await createServiceAccount(fx.namespace, sa);
    await createIdentity(fx.namespace, sa);
    const pod = await createPod(fx.namespace, `${sa}-pod`, sa, { [LABEL_AGENT]: sa }, edit);
    const res = await rawAttempt(await issuerToken(fx.namespace, sa, pod));
    expect(res.status).toBe(403);
    expect(res.reason).toBe("PodNotAdmissible");
    expect(res.message).toContain(`[${rule}]`);
  });

  it("refuses an SVID once kubectl debug --target=warden-gateway added an ephemeral container", async () => {
    const a = await agent("debugged");
    expect(await attempt(a.token)).toBe("issued");
    const { core } = clients();
    const live = await core.readNamespacedPod({ namespace: fx.namespace, name: a.pod.metadata!.name! });
    live.spec!.ephemeralContainers = [
      { name: "debugger", image: "busybox:1.37", targetContainerName: "warden-gateway" },
    ];
    await core.replaceNamespacedPodEphemeralcontainers({
      namespace: fx.namespace,
      name: a.pod.metadata!.name!,
      body: live,
    });
    const res = await rawAttempt(a.token);
    expect(res.reason).toBe("PodNotAdmissible");
    expect(res.message).toContain("[gateway.debugTarget]");
  });

  it("refuses an SVID to a tool-server pod without its inbound gateway", async () => {
    await createServiceAccount(fx.namespace, "bare-server");
    await fx.custom.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: fx.namespace,
      plural: KINDS.ToolManifest.plural,
      body: {
        apiVersion: `${GROUP}/${VERSION}`,
        kind: "ToolManifest",
        metadata: { name: "bare-server" },
        spec: {
          endpoint: `https://bare-server.${fx.namespace}.svc:8080/mcp`,
          server: { serviceAccountName: "bare-server", port: 8080 },
          tools: [{ name: "t" }],
        },
      },
    });
    const pod = await createPod(
      fx.namespace,
      "bare-server-pod",
      "bare-server",
      { [LABEL_TOOL_SERVER]: "bare-server" },
      (p) => {
        p.spec!.initContainers = [];
      },
    );
    const res = await rawAttempt(await issuerToken(fx.namespace, "bare-server", pod));
    expect(res.reason).toBe("PodNotAdmissible");
    expect(res.message).toContain("[gateway.inboundPresent]");
  });

  it("refuses a pod without the agent label", async () => {
    await agent("plain");
    const pod = await createPod(fx.namespace, "plain-unlabelled", "plain", {});
    expect(await attempt(await issuerToken(fx.namespace, "plain", pod))).toBe("403 PodNotAgent");
  });

  it("refuses a deleted pod's token", async () => {
    const a = await agent("gone");
    await fx.core.deleteNamespacedPod({
      name: a.pod.metadata!.name!,
      namespace: fx.namespace,
      gracePeriodSeconds: 0,
    });
    await waitFor("pod deleted", async () => (await attempt(a.token)) !== "issued" || undefined);
    expect(await attempt(a.token)).toMatch(/^(401 TokenInvalid|403 PodNotFound)$/);
  });

  it("refuses a suspended identity at once: the running client's next renewal fails", async () => {
    const a = await agent("susp");
    const client = new SvidClient({
      expectedID: a.id,
      trustDomain: TD,
      readToken: async () => a.token,
      requestSVID: transport().x509,
      trustBundle: async () => svc.bundlePem(),
      backoff: { initialMs: 200, maxMs: 1000 },
    });
    await client.start();
    expect(client.ready()).toBe(true);
    await patchIdentitySpec(fx.namespace, "susp", { suspended: true });
    // Once the issuer has seen the suspension (its identity cache lives ≤2 s; how long the watch
    // event takes depends on the machine, so the test waits on the condition, not the clock)...
    const reason = await waitFor(
      "refusal",
      async () => {
        const r = await attempt(a.token);
        return r === "issued" ? undefined : r;
      },
      30_000,
      100,
    );
    expect(reason).toBe("403 IdentitySuspended");
    // ...it stays refused: no later request slips through a stale cache entry.
    for (let i = 0; i < 5; i++) expect(await attempt(a.token)).toBe("403 IdentitySuspended");
    // The held SVID is not renewed and dies within one TTL.
    await waitFor("SVID expiry", async () => !client.ready() || undefined, 12_000, 100);
    expect((client.lastError() as IssuerRequestError).reason).toBe("IdentitySuspended");
    await client.stop();
  });

  it("reports the issuance round trip against the real API server (no assertion on time)", async () => {
    const a = await agent("rtt");
    const t = transport();
    const times: number[] = [];
    for (let i = 0; i < 20; i++) {
      const csr = await createCSR(await generateP256(), a.id);
      const t0 = performance.now();
      await t.x509(csr, a.token);
      times.push(performance.now() - t0);
    }
    const sorted = [...times].sort((x, y) => x - y);
    console.error(
      `[issuer.test] x509-svid round trip over HTTPS incl. pod + identity + enclave reads: first ${times[0]!.toFixed(1)} ms (TokenReview), p50 ${sorted[10]!.toFixed(1)} ms, max ${sorted[19]!.toFixed(1)} ms`,
    );
    expect(times).toHaveLength(20);
  });

  it("exposes metrics without per-agent labels", async () => {
    const text = await registry.metrics();
    expect(text).toMatch(/warden_svids_issued_total\{kind="x509"\} \d+/);
    expect(text).toMatch(/reason="IdentitySuspended"/);
    expect(text).not.toMatch(/susp|victim|bot"/);
  });
});

describe("Secret delivery on a real API server", () => {
  it("writes a kubernetes.io/tls Secret owned by the identity and rotates it before expiry; suspension deletes it", async () => {
    await createServiceAccount(fx.namespace, "legacy");
    const { uid } = await createIdentity(fx.namespace, "legacy", { svid: { delivery: "Secret" } });
    const read = async () => fx.core.readNamespacedSecret({ name: "legacy-svid", namespace: fx.namespace });
    const first = await waitFor("SVID Secret", read, 20_000);
    expect(first.type).toBe("kubernetes.io/tls");
    expect(first.metadata?.ownerReferences?.[0]).toMatchObject({
      kind: "AgentIdentity",
      name: "legacy",
      uid,
    });
    const d = (k: string) => Buffer.from(first.data?.[k] ?? "", "base64").toString("utf8");
    expect(d("tls.key")).toContain("BEGIN PRIVATE KEY");
    expect(JSON.parse(d("bundle.jwks.json")).keys.length).toBeGreaterThan(0);
    const chain = certsFromPem(d("tls.crt"));
    const v1 = await verifyX509SVID({
      chain,
      bundle: certsFromPem(d("ca.crt")),
      expectedID: `spiffe://${TD}/ns/${fx.namespace}/sa/legacy`,
    });
    // Rotated before expiry, with a new key.
    const second = await waitFor(
      "rotation",
      async () => {
        const s = await read();
        return s.data?.["tls.crt"] !== first.data?.["tls.crt"] ? s : undefined;
      },
      15_000,
      100,
    );
    expect(Date.now()).toBeLessThan(v1.notAfter.getTime());
    expect(second.data?.["tls.key"]).not.toBe(first.data?.["tls.key"]);
    // Suspended → the Secret is deleted, with an Event.
    await patchIdentitySpec(fx.namespace, "legacy", { suspended: true });
    await waitFor(
      "Secret deleted",
      async () =>
        read().then(
          () => undefined,
          (e: { code?: number }) => e.code === 404 || undefined,
        ),
      10_000,
    );
    const events = await waitFor("event", async () => {
      const list = await fx.core.listNamespacedEvent({
        namespace: fx.namespace,
        fieldSelector: "involvedObject.name=legacy",
      });
      return list.items.find((e) => e.reason === "SVIDSecretRemovedSuspended");
    });
    expect(events.message).toContain("suspended");
  });
});

describe("issuer TLS", () => {
  it("refuses TLS 1.1 and serves a certificate for 127.0.0.1 signed by the CA", async () => {
    const url = new URL("/healthz", svc.issuerURL);
    const get = (opts: https.RequestOptions) =>
      new Promise<number>((resolve, reject) => {
        https
          .get(url, { ca: svc.bundlePem(), ...opts }, (res) => resolve(res.statusCode ?? 0))
          .on("error", reject);
      });
    expect(await get({})).toBe(200);
    await expect(get({ maxVersion: "TLSv1.1", minVersion: "TLSv1" })).rejects.toThrow();
  });
});
