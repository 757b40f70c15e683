// Upgrade from CA-signed JWT-SVIDs: a `warden-ca` Secret written before JWT-SVIDs had their own key
// (no jwt.key). Two replicas starting at once both try to add one with an optimistic update; the
// loser re-reads and adopts the winner's, so both publish one jwt-svid key, which is not the CA's,
// and the JWT-SVIDs both sign verify against either replica's bundle.
import * as https from "node:https";
import { decodeProtectedHeader } from "jose";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LABEL_AGENT } from "../../api/v1alpha1/labels.ts";
import { parseBundleJWKS } from "../../lib/identity/bundle.ts";
import { createRootCA } from "../../lib/identity/ca.ts";
import { jwtKid, verifyJWTSVID } from "../../lib/identity/jwt-svid.ts";
import { httpsTransport } from "../../lib/identity/svid-client.ts";
import { createLogger } from "../../lib/log.ts";
import { CA_SECRET_NAME, SEQUENCE_ANNOTATION } from "../../operator/identity/ca-manager.ts";
import { encodeCASet } from "../../operator/identity/ca-secret.ts";
import type { IdentityServices } from "../../operator/identity/contract.ts";
import { startIdentityServices } from "../../operator/identity/index.ts";
import {
  createIdentity,
  createPod,
  createServiceAccount,
  enclaveFixture,
  fakeLeader,
  fixtureIdentityDeps,
  issuerToken,
} from "../support/identity.ts";

const TD = "jwtkey.test.warden.dev";
const AUD = "https://tools.jwtkey.test";
let fx: Awaited<ReturnType<typeof enclaveFixture>>;
let replicas: IdentityServices[] = [];
let caKid = "";

/** GET /v1/bundle of a replica (its SPIFFE JWKS), verifying the issuer with its PEM bundle. */
function getBundle(r: IdentityServices): Promise<unknown> {
  return new Promise((resolve, reject) => {
    https
      .get(new URL("/v1/bundle", r.issuerURL), { ca: r.bundlePem() }, (res) => {
        let d = "";
        res.on("data", (c: Buffer) => {
          d += c.toString();
        });
        res.on("end", () => resolve((JSON.parse(d) as { bundle: unknown }).bundle));
      })
      .on("error", reject);
  });
}

beforeAll(async () => {
  fx = await enclaveFixture("jwtkey");
  const ca = await createRootCA({ trustDomain: TD, ttlMs: 3600_000 });
  caKid = await jwtKid(await ca.cert.publicKey.export());
  const legacy = encodeCASet({ active: ca, retiring: [], extraTrust: [] });
  expect(legacy.data["jwt.key"]).toBeUndefined();
  await fx.core.createNamespacedSecret({
    namespace: fx.operatorNamespace,
    body: {
      metadata: { name: CA_SECRET_NAME, annotations: { [SEQUENCE_ANNOTATION]: "1" } },
      type: "Opaque",
      data: legacy.data,
    },
  });
  const deps = (isLeader: boolean) =>
    fixtureIdentityDeps(fx, {
      log: createLogger("jwtkey", { level: "error" }),
      registry: new Registry(),
      trustDomain: TD,
      issuer: { rateLimit: { perSecond: 20, burst: 50 } },
      leader: fakeLeader(isLeader),
    });
  replicas = await Promise.all([startIdentityServices(deps(true)), startIdentityServices(deps(false))]);
});
afterAll(async () => {
  for (const r of replicas) await r.stop();
  await fx?.cleanup();
});

describe("JWT-SVID key added to a CA Secret from before JWT keys", () => {
  it("both replicas adopt one added key; tokens from either verify by kid and never under the CA", async () => {
    const secret = await fx.core.readNamespacedSecret({
      name: CA_SECRET_NAME,
      namespace: fx.operatorNamespace,
    });
    expect(secret.data?.["jwt.key"]).toBeTruthy();
    await createServiceAccount(fx.namespace, "bot");
    await createIdentity(fx.namespace, "bot", { svid: { jwtAudiences: [AUD] } });
    const pod = await createPod(fx.namespace, "bot-pod", "bot", { [LABEL_AGENT]: "bot" });
    const token = await issuerToken(fx.namespace, "bot", pod);
    const kids = new Set<string>();
    for (const r of replicas) {
      const t = httpsTransport({ issuerURL: r.issuerURL, bundle: async () => r.bundlePem() });
      const { token: jwt } = await t.jwt(AUD, token);
      const kid = String(decodeProtectedHeader(jwt).kid);
      kids.add(kid);
      expect(kid).not.toBe(caKid);
      for (const other of replicas) {
        const { jwtKeys } = parseBundleJWKS(JSON.stringify(await getBundle(other)));
        expect(jwtKeys.map((k) => k.kid)).toEqual([kid]);
        await expect(
          verifyJWTSVID(jwt, { audience: AUD, keys: jwtKeys, trustDomain: TD, maxLifetimeMs: 3600_000 }),
        ).resolves.toMatchObject({ spiffeID: `spiffe://${TD}/ns/${fx.namespace}/sa/bot` });
      }
    }
    expect(kids.size).toBe(1);
    const events = await fx.core.listNamespacedEvent({ namespace: fx.operatorNamespace });
    expect(events.items.filter((e) => e.reason === "JWTKeyCreated")).toHaveLength(1);
  }, 60_000);
});
