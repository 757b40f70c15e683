// The issuer's HTTP plumbing over real HTTPS with the real client library. Authentication and
// authorisation are injected here (their rules are tested in rules.test.ts and against a real API
// server in test/integration/issuer.test.ts).
import * as https from "node:https";
import * as jose from "jose";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DeniedError } from "../../lib/errors.ts";
import { parseBundleJWKS } from "../../lib/identity/bundle.ts";
import { type CA, createRootCA } from "../../lib/identity/ca.ts";
import { generateP256 } from "../../lib/identity/crypto.ts";
import { createCSR } from "../../lib/identity/csr.ts";
import { createJWTKey } from "../../lib/identity/jwt-key.ts";
import { jwtKid, verifyJWTSVID } from "../../lib/identity/jwt-svid.ts";
import { httpsTransport, SvidClient } from "../../lib/identity/svid-client.ts";
import { createLogger } from "../../lib/log.ts";
import { KeyedTokenBuckets } from "../../lib/token-bucket.ts";
import type { TokenIdentity } from "./authn.ts";
import { Authority } from "./authority.ts";
import type { WorkloadGrant } from "./authz.ts";
import { type IssuerServer, startIssuerServer } from "./issuer-server.ts";
import { identityMetrics } from "./metrics.ts";

const ID = "spiffe://example.org/ns/ns1/sa/bot";
const registry = new Registry();
const authority = new Authority();
let server: IssuerServer;
const issued: string[] = [];
let ca: CA;

beforeAll(async () => {
  ca = await createRootCA({ trustDomain: "example.org", ttlMs: 3600_000 });
  const jwtKey = await createJWTKey();
  await authority.set({
    active: ca,
    trusted: [ca.cert],
    sequence: 1,
    jwt: { signer: jwtKey, trusted: [jwtKey.publicJwk] },
  });
  server = await startIssuerServer(
    {
      authority,
      authenticate: async (token): Promise<TokenIdentity> => {
        if (token.startsWith("good"))
          return {
            namespace: "ns1",
            serviceAccount: "bot",
            podName: "p",
            podUID: "u",
            expiresAt: new Date(Date.now() + 60_000),
          };
        throw new DeniedError("TokenInvalid", "bad token");
      },
      authorize: async (tok): Promise<WorkloadGrant> => {
        if (tok.podName === "p") {
          return {
            kind: "agent",
            namespace: "ns1",
            name: "bot",
            serviceAccount: "bot",
            spiffeID: ID,
            ttlMs: 60_000,
            jwtAudiences: ["https://tools"],
          };
        }
        throw new DeniedError("PodNotAgent", "no");
      },
      rateLimit: new KeyedTokenBuckets({ ratePerSecond: 0.001, burst: 6 }),
      metrics: identityMetrics(registry),
      log: createLogger("test", { level: "error" }),
      onIssued: (_g, i) => issued.push(i.serial),
    },
    { host: "127.0.0.1", port: 0 },
  );
});
afterAll(async () => server.close());

const transport = () => httpsTransport({ issuerURL: server.url, bundle: async () => authority.bundlePem() });

/** Raw HTTPS POST (the issuer is still verified against the bundle). */
function post(path: string, body: string, headers: Record<string, string>) {
  return new Promise<{ status: number; json: { error?: string; message?: string } }>((resolve, reject) => {
    const req = https.request(
      new URL(path, server.url),
      { method: "POST", ca: authority.bundlePem(), headers },
      (res) => {
        let data = "";
        res.on("data", (c: Buffer) => {
          data += c.toString();
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(data) }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

describe("issuer server", () => {
  it("serves TLS with a cert for 127.0.0.1 from the CA, and issues an SVID the client accepts", async () => {
    const client = new SvidClient({
      expectedID: ID,
      trustDomain: "example.org",
      readToken: async () => "good-1",
      requestSVID: transport().x509,
      trustBundle: async () => authority.bundlePem(),
    });
    await client.start();
    expect(client.ready()).toBe(true);
    expect(client.current()!.spiffeID).toBe(ID);
    expect(issued).toContain(client.current()!.serial);
    await client.stop();
  });
  it("issues a JWT-SVID for an allowed audience and refuses another", async () => {
    const t = transport();
    const { token } = await t.jwt("https://tools", "good-1");
    const { jwtKeys } = parseBundleJWKS(JSON.stringify(authority.bundleJWKS()));
    const v = await verifyJWTSVID(token, { audience: "https://tools", keys: jwtKeys, maxLifetimeMs: 60_000 });
    expect(v.spiffeID).toBe(ID);
    // Signed by the JWT key published as jwt-svid, not by the CA (whose thumbprint is no jwt-svid kid).
    const { kid } = jose.decodeProtectedHeader(token);
    const caKid = await jwtKid(await ca.cert.publicKey.export());
    expect(jwtKeys.map((k) => k.kid)).toContain(kid);
    expect(kid).not.toBe(caKid);
    expect(jwtKeys.map((k) => k.kid)).not.toContain(caKid);
    await expect(t.jwt("https://elsewhere", "good-1")).rejects.toMatchObject({
      status: 403,
      reason: "AudienceNotAllowed",
    });
  });
  it("answers every refusal as JSON {error, message} with the right status", async () => {
    const keys = await generateP256();
    const csr = await createCSR(keys, ID);
    const json = { "content-type": "application/json" };
    expect(await post("/v1/x509-svid", JSON.stringify({ csr }), json)).toMatchObject({
      status: 401,
      json: { error: "MissingToken" },
    });
    expect(
      await post("/v1/x509-svid", JSON.stringify({ csr }), { ...json, authorization: "Bearer bad" }),
    ).toMatchObject({
      status: 401,
      json: { error: "TokenInvalid" },
    });
    expect(
      await post("/v1/x509-svid", JSON.stringify({ csr: 5 }), { ...json, authorization: "Bearer good" }),
    ).toMatchObject({
      status: 400,
      json: { error: "InvalidRequest" },
    });
    expect(
      await post("/v1/x509-svid", JSON.stringify({ csr, extra: 1 }), {
        ...json,
        authorization: "Bearer good",
      }),
    ).toMatchObject({
      status: 400,
    });
    const other = await createCSR(keys, "spiffe://example.org/ns/kube-system/sa/admin");
    expect(
      await post("/v1/x509-svid", JSON.stringify({ csr: other }), { ...json, authorization: "Bearer good" }),
    ).toMatchObject({
      status: 403,
      json: { error: "CSRSpiffeIDMismatch" },
    });
    const big = JSON.stringify({ csr: "A".repeat(20_000) });
    expect((await post("/v1/x509-svid", big, { ...json, authorization: "Bearer good" })).status).toBe(413);
    const res = await post("/v1/x509-svid", JSON.stringify({ csr }), {
      ...json,
      authorization: "Bearer good",
    });
    expect(res.status).toBe(429);
    expect(res.json.error).toBe("RateLimited");
    expect(res.json.message).toMatch(/retry in/);
  });
  it("serves the bundle and health", async () => {
    const get = (p: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        https
          .get(new URL(p, server.url), { ca: authority.bundlePem() }, (res) => {
            let d = "";
            res.on("data", (c: Buffer) => {
              d += c.toString();
            });
            res.on("end", () => resolve({ status: res.statusCode ?? 0, body: d }));
          })
          .on("error", reject);
      });
    const b = await get("/v1/bundle");
    expect(b.status).toBe(200);
    expect(JSON.parse(b.body).bundlePem).toContain("BEGIN CERTIFICATE");
    expect((await get("/healthz")).status).toBe(200);
  });
  it("refuses JWT-SVIDs (403 JWTKeyNotConfigured) when it has no JWT key, never signing with the CA key", async () => {
    const bare = new Authority();
    const ca2 = await createRootCA({ trustDomain: "example.org", ttlMs: 3600_000 });
    await bare.set({ active: ca2, trusted: [ca2.cert], sequence: 1 });
    expect(bare.bundleJWKS().keys.map((k) => k.use)).toEqual(["x509-svid"]);
    const s2 = await startIssuerServer(
      {
        authority: bare,
        authenticate: async (): Promise<TokenIdentity> => ({
          namespace: "ns1",
          serviceAccount: "bot",
          podName: "p",
          podUID: "u",
          expiresAt: new Date(Date.now() + 60_000),
        }),
        authorize: async (): Promise<WorkloadGrant> => ({
          kind: "agent",
          namespace: "ns1",
          name: "bot",
          serviceAccount: "bot",
          spiffeID: ID,
          ttlMs: 60_000,
          jwtAudiences: ["https://tools"],
        }),
        rateLimit: new KeyedTokenBuckets({ ratePerSecond: 1, burst: 5 }),
        metrics: identityMetrics(new Registry()),
        log: createLogger("test", { level: "error" }),
      },
      { host: "127.0.0.1", port: 0 },
    );
    try {
      const t = httpsTransport({ issuerURL: s2.url, bundle: async () => bare.bundlePem() });
      await expect(t.jwt("https://tools", "good-1")).rejects.toMatchObject({
        status: 403,
        reason: "JWTKeyNotConfigured",
      });
    } finally {
      await s2.close();
    }
  });
  it("counts issuance and refusals without per-agent labels", async () => {
    const text = await registry.metrics();
    expect(text).toMatch(/warden_svids_issued_total\{kind="x509"\} [1-9]/);
    expect(text).toMatch(/warden_svid_requests_refused_total\{kind="x509",reason="TokenInvalid"\} 1/);
    expect(text).toContain("warden_svid_issue_duration_seconds_bucket");
    expect(text).not.toContain("bot");
  });
});
