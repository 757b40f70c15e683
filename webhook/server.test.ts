// The HTTPS server at its edge: malformed AdmissionReviews get clear answers, never a crash; TLS
// below 1.2 is refused; health, readiness and metrics (bounded labels) work.
import { request } from "node:https";
import { connect } from "node:tls";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRootCA } from "../lib/identity/ca.ts";
import { issueServingCert } from "../lib/identity/serving-cert.ts";
import { createLogger } from "../lib/log.ts";
import { StaticContextSource } from "./context.ts";
import { engineSettings } from "./evaluate.ts";
import {
  agentPod,
  agentPodSource,
  CFG,
  enclave,
  identity,
  type Loose,
  NS,
  searchManifest,
} from "./rules/testkit.ts";
import { startWebhookServer, type WebhookServer } from "./server.ts";

let server: WebhookServer;
let ca: string;
const registry = new Registry();

beforeAll(async () => {
  const root = await createRootCA({ trustDomain: "server.test", ttlMs: 3_600_000 });
  const tls = await issueServingCert({
    ca: root,
    dnsNames: [],
    ipAddresses: ["127.0.0.1"],
    ttlMs: 3_600_000,
  });
  ca = root.certPem;
  server = await startWebhookServer({
    tls: { keyPem: tls.keyPem, certPem: tls.certChainPem },
    source: new StaticContextSource([enclave(), identity(), searchManifest()], NS),
    sidecar: CFG,
    settings: engineSettings(CFG),
    registry,
    log: createLogger("webhook", { level: "error" }),
    bodyLimitBytes: 64 * 1024,
  });
  server.setReady(true);
});

afterAll(async () => {
  await server.close();
});

function call(
  method: string,
  path: string,
  body?: string | Buffer,
  headers: Record<string, string> = { "content-type": "application/json" },
): Promise<{ status: number; json: Loose; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${server.url}${path}`, { method, ca, headers }, (res) => {
      let text = "";
      res.on("data", (d: Buffer) => (text += d.toString()));
      res.on("end", () => {
        let json: Loose;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, json, text });
      });
    });
    req.on("error", reject);
    req.end(body);
  });
}

const review = (request: unknown, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", request, ...extra });

const podRequest = (object: unknown, extra: Record<string, unknown> = {}) => ({
  uid: "3f7a1c2e",
  kind: { group: "", version: "v1", kind: "Pod" },
  resource: { group: "", version: "v1", resource: "pods" },
  namespace: NS,
  operation: "CREATE",
  object,
  ...extra,
});

describe("webhook server: malformed AdmissionReviews", () => {
  it("empty body", async () => {
    const r = await call("POST", "/validate", "");
    expect(r.status).toBe(400);
    expect(r.json.error).toMatch(/empty request body/);
  });

  it("null request", async () => {
    const r = await call("POST", "/validate", review(null));
    expect(r.status).toBe(400);
    expect(r.json.error).toMatch(/request: request must be an object, not null/);
  });

  it("wrong apiVersion", async () => {
    const r = await call(
      "POST",
      "/validate",
      JSON.stringify({
        apiVersion: "admission.k8s.io/v1beta1",
        kind: "AdmissionReview",
        request: podRequest(agentPod()),
      }),
    );
    // the uid is known, so the answer is an AdmissionReview the API server can match
    expect(r.status).toBe(200);
    expect(r.json.response).toMatchObject({ uid: "3f7a1c2e", allowed: false, status: { code: 400 } });
    expect(r.json.response.status.message).toMatch(/apiVersion must be admission.k8s.io\/v1/);
  });

  it("missing uid", async () => {
    const req: Loose = podRequest(agentPod());
    delete req.uid;
    const r = await call("POST", "/validate", review(req));
    expect(r.status).toBe(400);
    expect(r.json.error).toMatch(/request.uid: request.uid is required/);
  });

  it("wrong content type", async () => {
    const r = await call("POST", "/validate", review(podRequest(agentPod())), {
      "content-type": "text/plain",
    });
    expect(r.status).toBe(415);
    expect(r.json.error).toMatch(/content-type must be application\/json, got "text\/plain"/);
  });

  it("body over the limit", async () => {
    const big = agentPod() as Loose;
    big.metadata.annotations.padding = "x".repeat(128 * 1024);
    const r = await call("POST", "/validate", review(podRequest(big)));
    expect(r.status).toBe(413);
    expect(r.json.error).toMatch(/exceeds the 65536 byte limit/);
  });

  it("invalid JSON, and JSON that is not an object", async () => {
    const r = await call("POST", "/validate", "{not json");
    expect(r.status).toBe(400);
    expect(r.json.error).toMatch(/not valid JSON/);
    const r2 = await call("POST", "/mutate", "[1,2]");
    expect(r2.status).toBe(400);
    expect(r2.json.error).toMatch(/invalid AdmissionReview/);
  });

  it("wrong operation value and missing object", async () => {
    const r = await call("POST", "/validate", review(podRequest(agentPod(), { operation: "PATCH" })));
    expect(r.json.response.allowed).toBe(false);
    expect(r.json.response.status.message).toMatch(/request.operation/);
    const r2 = await call("POST", "/validate", review(podRequest(undefined)));
    expect(r2.json.response).toMatchObject({ allowed: false, status: { code: 400 } });
  });

  it("still serves after all of that", async () => {
    expect((await call("GET", "/healthz")).text).toBe("ok");
  });
});

describe("webhook server: reviews", () => {
  it("validates: allows a compliant pod, denies a bad one with rule, field and causes", async () => {
    const ok = await call("POST", "/validate", review(podRequest(agentPod())));
    expect(ok.json).toMatchObject({
      apiVersion: "admission.k8s.io/v1",
      kind: "AdmissionReview",
      response: { uid: "3f7a1c2e", allowed: true },
    });
    const bad: Loose = agentPod();
    bad.spec.hostIPC = true;
    const r = await call("POST", "/validate", review(podRequest(bad)));
    expect(r.json.response.allowed).toBe(false);
    expect(r.json.response.status.message).toContain("[pod.hostNamespaces] spec.hostIPC");
    expect(r.json.response.status.details.causes).toEqual([
      { reason: "pod.hostNamespaces", field: "spec.hostIPC", message: expect.stringContaining("fix:") },
    ]);
  });

  it("validates UPDATE against oldObject (agent label change refused)", async () => {
    const changed: Loose = agentPod();
    changed.metadata.labels["warden.dev/agent"] = "other";
    const r = await call(
      "POST",
      "/validate",
      review(podRequest(changed, { operation: "UPDATE", oldObject: agentPod() })),
    );
    expect(r.json.response.status.message).toContain(
      '[agent.immutableLabels] metadata.labels["warden.dev/agent"]',
    );
  });

  it("validates UPDATE that removes the sidecar (gateway.present)", async () => {
    const stripped: Loose = agentPod();
    stripped.spec.initContainers.shift();
    const r = await call(
      "POST",
      "/validate",
      review(podRequest(stripped, { operation: "UPDATE", oldObject: agentPod() })),
    );
    expect(r.json.response.allowed).toBe(false);
    expect(r.json.response.status.message).toContain("[gateway.present] spec.initContainers");
  });

  it("mutates: returns a base64 JSONPatch, none on reinvocation", async () => {
    const r = await call("POST", "/mutate", review(podRequest(agentPodSource())));
    expect(r.json.response).toMatchObject({ allowed: true, patchType: "JSONPatch" });
    const ops = JSON.parse(Buffer.from(r.json.response.patch, "base64").toString());
    expect(ops[0]).toMatchObject({ op: "add", path: "/spec/initContainers/0" });
    const again = await call("POST", "/mutate", review(podRequest(agentPod())));
    expect(again.json.response).toEqual({ uid: "3f7a1c2e", allowed: true });
  });

  it("DELETE and other subresources pass untouched", async () => {
    const r = await call("POST", "/validate", review(podRequest(agentPod(), { operation: "DELETE" })));
    expect(r.json.response.allowed).toBe(true);
    const s = await call(
      "POST",
      "/validate",
      review(podRequest({ kind: "Pod" }, { operation: "UPDATE", subResource: "status" })),
    );
    expect(s.json.response.allowed).toBe(true);
  });

  it("readyz follows setReady; metrics count reviews by operation, result and rule, no names", async () => {
    server.setReady(false);
    expect((await call("GET", "/readyz")).status).toBe(503);
    server.setReady(true);
    expect((await call("GET", "/readyz")).status).toBe(200);
    const m = (await call("GET", "/metrics")).text;
    expect(m).toMatch(
      /warden_webhook_reviews_total\{endpoint="validate",operation="CREATE",result="denied"\} \d+/,
    );
    expect(m).toMatch(
      /warden_webhook_reviews_total\{endpoint="mutate",operation="CREATE",result="patched"\} 1/,
    );
    expect(m).toMatch(/warden_webhook_rule_violations_total\{rule="pod.hostNamespaces"\} 1/);
    expect(m).not.toContain("researcher");
  });

  it("refuses TLS 1.1", async () => {
    const err = await new Promise<Error | undefined>((resolve) => {
      const s = connect(
        { host: "127.0.0.1", port: server.port, ca, maxVersion: "TLSv1.1", minVersion: "TLSv1" },
        () => {
          s.end();
          resolve(undefined);
        },
      );
      s.on("error", (e) => resolve(e));
    });
    expect(err).toBeDefined();
  });
});
