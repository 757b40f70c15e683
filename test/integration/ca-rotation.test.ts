// CA rotation end to end with CA lifetimes of seconds: two replicas (one leader) bootstrap the same
// CA at once, the leader prepares → activates → retires CAs, the non-leader follows through the
// Secret, and a client renewing from the NON-leader never holds an SVID that fails to verify
// against the trust bundle ConfigMap published in the enclave namespace.

import { decodeProtectedHeader } from "jose";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LABEL_AGENT } from "../../api/v1alpha1/labels.ts";
import { parseBundleJWKS } from "../../lib/identity/bundle.ts";
import { certsFromPem } from "../../lib/identity/crypto.ts";
import { jwtKid, verifyJWTSVID } from "../../lib/identity/jwt-svid.ts";
import { httpsTransport, SvidClient } from "../../lib/identity/svid-client.ts";
import { verifyX509SVID } from "../../lib/identity/x509-svid.ts";
import { createLogger } from "../../lib/log.ts";
import type { IdentityServices, IdentityServicesDeps } from "../../operator/identity/contract.ts";
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

const TD = "rotation.test.warden.dev";
const JWT_AUD = "https://tools.rotation.test";
const serials = (pem: string) =>
  certsFromPem(pem)
    .map((c) => c.serialNumber)
    .join(", ");
let fx: Awaited<ReturnType<typeof enclaveFixture>>;
let leader: IdentityServices;
let follower: IdentityServices;
const leaderRegistry = new Registry();

beforeAll(async () => {
  fx = await enclaveFixture("carot");
  const base = (registry: Registry, isLeader: boolean): IdentityServicesDeps =>
    fixtureIdentityDeps(fx, {
      log: createLogger(isLeader ? "leader" : "follower", {
        level: (process.env.ROTATION_LOG as "info" | undefined) ?? "warn",
      }),
      registry,
      trustDomain: TD,
      issuer: { ttlOverride: "5s", statusInterval: "5s", rateLimit: { perSecond: 20, burst: 50 } },
      ca: { ttl: "24s", rotateAtFraction: 2 / 3, propagation: "3s", syncInterval: "500ms" },
      leader: fakeLeader(isLeader),
    });
  // Both replicas bootstrap at once: create-if-absent must leave them with one CA.
  [leader, follower] = await Promise.all([
    startIdentityServices(base(leaderRegistry, true)),
    startIdentityServices(base(new Registry(), false)),
  ]);
});
afterAll(async () => {
  await follower?.stop();
  await leader?.stop();
  await fx?.cleanup();
});

describe("CA rotation", () => {
  it("two replicas bootstrapping together agree on one CA and one JWT-SVID key, kept apart", async () => {
    expect(follower.bundlePem()).toBe(leader.bundlePem());
    expect(follower.caNotAfter()?.getTime()).toBe(leader.caNotAfter()?.getTime());
    const secret = await fx.core.readNamespacedSecret({ name: "warden-ca", namespace: fx.operatorNamespace });
    expect(Object.keys(secret.data ?? {})).toEqual(expect.arrayContaining(["tls.key", "jwt.key"]));
    expect(secret.data?.["jwt.key"]).not.toBe(secret.data?.["tls.key"]);
  });

  it("rotates with an overlap so that no live SVID ever fails against the published bundle", async () => {
    await createServiceAccount(fx.namespace, "bot");
    await createIdentity(fx.namespace, "bot", { svid: { jwtAudiences: [JWT_AUD] } });
    const pod = await createPod(fx.namespace, "bot-pod", "bot", { [LABEL_AGENT]: "bot" });
    const token = await issuerToken(fx.namespace, "bot", pod);
    const id = `spiffe://${TD}/ns/${fx.namespace}/sa/bot`;
    const publishedBundle = async () =>
      (await fx.core.readNamespacedConfigMap({ name: "warden-trust-bundle", namespace: fx.namespace }))
        .data?.["bundle.pem"] ?? "";
    const client = new SvidClient({
      expectedID: id,
      trustDomain: TD,
      readToken: async () => token,
      // The follower signs: it learns each new CA from the Secret, never from leadership.
      requestSVID: httpsTransport({ issuerURL: follower.issuerURL, bundle: async () => follower.bundlePem() })
        .x509,
      // What the pod has mounted: new SVIDs are verified against it, never the answer's own bundle.
      trustBundle: publishedBundle,
      backoff: { initialMs: 100, maxMs: 500 },
    });
    await client.start();
    expect(client.ready()).toBe(true);

    const failures: string[] = [];
    // JWT-SVIDs too: fetched from the follower about once a second and each re-verified on every
    // sample while it lives, against the jwt-svid keys of the published bundle.jwks.json.
    const jwtTransport = httpsTransport({
      issuerURL: follower.issuerURL,
      bundle: async () => follower.bundlePem(),
    });
    const jwts: { token: string; expiresAt: Date }[] = [];
    let lastJwtFetch = 0;
    // What the property is about: every sample taken while both rotations happen verifies. So the
    // loop runs until two complete rotations were *observed* (bundle 1 → 2 → 1, twice; SVIDs from
    // three CAs), bounded by a deadline, and records which CAs and JWT keys were seen verified —
    // never how many samples this machine managed to take.
    const verifiedCAs = new Set<string>();
    const verifiedJwtKids = new Set<string>();
    const jwtKids = new Set<string>();
    const bundlePhases: number[] = []; // bundle sizes, consecutive duplicates collapsed
    const completedOverlaps = () =>
      bundlePhases.filter((n, i) => n === 2 && bundlePhases[i + 1] === 1 && i > 0).length;
    const deadline = Date.now() + 110_000;
    while (Date.now() < deadline && (completedOverlaps() < 2 || verifiedCAs.size < 3)) {
      const svid = client.current();
      if (!svid) {
        failures.push(
          `${new Date().toISOString()}: the client held no valid SVID (${client.lastError()?.message})`,
        );
      } else {
        const cm = await fx.core.readNamespacedConfigMap({
          name: "warden-trust-bundle",
          namespace: fx.namespace,
        });
        const bundle = certsFromPem(cm.data?.["bundle.pem"] ?? "");
        if (bundlePhases.at(-1) !== bundle.length) bundlePhases.push(bundle.length);
        const now = new Date();
        const chain = certsFromPem(svid.certChainPem);
        // Only an SVID still live after the ConfigMap read counts (it may have expired meanwhile).
        if (now < svid.notAfter) {
          await verifyX509SVID({ chain: chain.slice(0, 1), bundle, expectedID: id, now }).then(
            () => verifiedCAs.add(chain[1]!.serialNumber),
            (err: Error) =>
              failures.push(
                `${now.toISOString()}: SVID ${svid.serial} (CA ${chain[1]?.serialNumber}) does not verify against the bundle [${serials(cm.data?.["bundle.pem"] ?? "")}] (leader holds [${serials(leader.bundlePem())}], written by ${cm.metadata?.managedFields?.map((f) => f.manager).join(",")}): ${err.message}`,
              ),
          );
        }
      }
      if (Date.now() - lastJwtFetch >= 1000) {
        lastJwtFetch = Date.now();
        try {
          const t = await jwtTransport.jwt(JWT_AUD, token);
          jwts.push({ token: t.token, expiresAt: new Date(t.expiresAt) });
          jwtKids.add(String(decodeProtectedHeader(t.token).kid));
        } catch (err) {
          failures.push(`${new Date().toISOString()}: JWT-SVID request failed: ${(err as Error).message}`);
        }
      }
      const cmJ = await fx.core.readNamespacedConfigMap({
        name: "warden-trust-bundle",
        namespace: fx.namespace,
      });
      const published = parseBundleJWKS(cmJ.data?.["bundle.jwks.json"] ?? "{}");
      const caKids = await Promise.all(published.cas.map(async (c) => jwtKid(await c.publicKey.export())));
      const nowJ = new Date();
      for (const j of jwts) {
        if (nowJ >= j.expiresAt) continue;
        const kid = String(decodeProtectedHeader(j.token).kid);
        if (caKids.includes(kid)) failures.push(`${nowJ.toISOString()}: JWT-SVID kid ${kid} is a CA key`);
        await verifyJWTSVID(j.token, {
          audience: JWT_AUD,
          keys: published.jwtKeys,
          trustDomain: TD,
          maxLifetimeMs: 60_000,
          now: nowJ,
        }).then(
          () => verifiedJwtKids.add(kid),
          (err: Error) =>
            failures.push(
              `${nowJ.toISOString()}: JWT-SVID (kid ${kid}) does not verify against the bundle's jwt-svid keys [${published.jwtKeys.map((k) => k.kid).join(", ")}]: ${err.message}`,
            ),
        );
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    await client.stop();
    expect(failures).toEqual([]);
    // Both rotations were watched through: the bundle grew to the overlap of 2 and shrank back to 1
    // twice, and SVIDs of at least three CAs were each seen verifying against the published bundle.
    expect(completedOverlaps(), `bundle sizes seen: ${bundlePhases.join(" → ")}`).toBeGreaterThanOrEqual(2);
    expect(Math.max(...bundlePhases)).toBe(2);
    expect(verifiedCAs.size).toBeGreaterThanOrEqual(3);
    // Every JWT key that signed a token seen was also seen verifying: none was dropped too early.
    expect([...jwtKids].filter((k) => !verifiedJwtKids.has(k))).toEqual([]);
    expect(jwtKids.size).toBeGreaterThanOrEqual(3);
    const metrics = await leaderRegistry.metrics();
    expect(metrics).toMatch(/warden_ca_rotations_total [2-9]/);
    const events = await fx.core.listNamespacedEvent({ namespace: fx.operatorNamespace });
    const reasons = new Set(events.items.map((e) => e.reason));
    for (const r of ["CACreated", "CAPrepared", "CARotated", "CARetired"]) expect(reasons).toContain(r);
  }, 180_000);
});
