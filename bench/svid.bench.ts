// X.509-SVID signing: @peculiar/x509 ECDSA P-256 (what the issuer uses) vs node-forge RSA-2048
// (the baseline DESIGN.md §4 measured), each for a bounded time in the same process; and the
// issuance round trip of the in-process HTTPS issuer (authentication injected: no cluster needed,
// so this measures TLS + JSON + CSR checks + signing, not TokenReview).
import * as https from "node:https";
import forge from "node-forge";
import { Registry } from "prom-client";
import { createRootCA } from "../lib/identity/ca.ts";
import { generateP256 } from "../lib/identity/crypto.ts";
import { createCSR } from "../lib/identity/csr.ts";
import { signX509SVID, signX509SVIDFromCSR } from "../lib/identity/x509-svid.ts";
import { createLogger } from "../lib/log.ts";
import { Authority } from "../operator/identity/authority.ts";
import { startIssuerServer } from "../operator/identity/issuer-server.ts";
import { identityMetrics } from "../operator/identity/metrics.ts";
import { KeyedTokenBuckets } from "../operator/identity/rate-limit.ts";
import type { BenchResult } from "./run.ts";

const SECONDS = 3;
const ID = "spiffe://bench.warden.dev/ns/agents/sa/bot";

async function rate(
  fn: () => Promise<unknown> | unknown,
  seconds = SECONDS,
): Promise<{ perSecond: number; n: number }> {
  await fn(); // warm-up
  const until = performance.now() + seconds * 1000;
  const start = performance.now();
  let n = 0;
  while (performance.now() < until && n < 100_000) {
    await fn();
    n++;
  }
  return { perSecond: n / ((performance.now() - start) / 1000), n };
}

async function p256Signing() {
  const ca = await createRootCA({ trustDomain: "bench.warden.dev", ttlMs: 86_400_000 });
  const keys = await generateP256();
  const csrPem = await createCSR(keys, ID);
  const fromCSR = await rate(() => signX509SVIDFromCSR({ ca, csrPem, spiffeID: ID, ttlMs: 900_000 }));
  const fromKey = await rate(() =>
    signX509SVID({ ca, publicKey: keys.publicKey, spiffeID: ID, ttlMs: 900_000 }),
  );
  return { fromCSR, fromKey };
}

function forgeRSASigning() {
  const caKeys = forge.pki.rsa.generateKeyPair(2048);
  const leafKeys = forge.pki.rsa.generateKeyPair(2048);
  const caAttrs = [{ name: "commonName", value: "bench CA" }];
  return rate(() => {
    const cert = forge.pki.createCertificate();
    cert.publicKey = leafKeys.publicKey;
    cert.serialNumber = forge.util.bytesToHex(forge.random.getBytesSync(16)).replace(/^[89a-f]/, "1");
    cert.validity.notBefore = new Date(Date.now() - 30_000);
    cert.validity.notAfter = new Date(Date.now() + 900_000);
    cert.setIssuer(caAttrs);
    cert.setSubject([{ name: "organizationName", value: "agent-warden" }]);
    cert.setExtensions([
      { name: "basicConstraints", cA: false, critical: true },
      { name: "keyUsage", digitalSignature: true, critical: true },
      { name: "extKeyUsage", serverAuth: true, clientAuth: true },
      { name: "subjectAltName", altNames: [{ type: 6, value: ID }] },
    ]);
    cert.sign(caKeys.privateKey, forge.md.sha256.create());
  });
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

async function issuerRoundTrip() {
  const ca = await createRootCA({ trustDomain: "bench.warden.dev", ttlMs: 86_400_000 });
  const authority = new Authority();
  await authority.set({ active: ca, trusted: [ca.cert], sequence: 1 });
  const server = await startIssuerServer(
    {
      authority,
      authenticate: async () => ({
        namespace: "agents",
        serviceAccount: "bot",
        podName: "p",
        podUID: "u",
        expiresAt: new Date(Date.now() + 60_000),
      }),
      authorize: async () => ({
        kind: "agent",
        namespace: "agents",
        name: "bot",
        serviceAccount: "bot",
        spiffeID: ID,
        ttlMs: 900_000,
        jwtAudiences: [],
      }),
      rateLimit: new KeyedTokenBuckets({ ratePerSecond: 1e6, burst: 1e6 }),
      metrics: identityMetrics(new Registry()),
      log: createLogger("bench", { level: "error" }),
    },
    { host: "127.0.0.1", port: 0 },
  );
  const csrPem = await createCSR(await generateP256(), ID);
  // A fresh TLS connection per request, as a sidecar renewing every few minutes would make.
  const call = (path: string, method: string, body?: string) =>
    new Promise<number>((resolve, reject) => {
      const t0 = performance.now();
      const req = https.request(
        new URL(path, server.url),
        {
          method,
          ca: authority.bundlePem(),
          agent: false,
          headers: { "content-type": "application/json", authorization: "Bearer bench" },
        },
        (res) => {
          res.resume();
          res.on("end", () =>
            res.statusCode === 200
              ? resolve(performance.now() - t0)
              : reject(new Error(`status ${res.statusCode}`)),
          );
        },
      );
      req.on("error", reject);
      req.end(body);
    });
  const body = JSON.stringify({ csr: csrPem });
  const issue: number[] = [];
  const health: number[] = [];
  const until = performance.now() + SECONDS * 1000;
  while (performance.now() < until && issue.length < 2000) {
    issue.push(await call("/v1/x509-svid", "POST", body));
    health.push(await call("/healthz", "GET"));
  }
  await server.close();
  return { issue, health };
}

export async function run(): Promise<BenchResult[]> {
  const p256 = await p256Signing();
  const rsa = await forgeRSASigning();
  const rtt = await issuerRoundTrip();
  const p50 = percentile(rtt.issue, 50);
  const h50 = percentile(rtt.health, 50);
  return [
    {
      name: "x509-svid signing (one core)",
      subject: "@peculiar/x509 P-256",
      baseline: "node-forge RSA-2048",
      unit: "certs/s",
      subjectValue: p256.fromKey.perSecond,
      baselineValue: rsa.perSecond,
      ratio: p256.fromKey.perSecond / rsa.perSecond,
      notes: `${SECONDS}s each, same extensions, key pre-made; n=${p256.fromKey.n}/${rsa.n}`,
    },
    {
      name: "x509-svid issuance from a CSR (one core)",
      subject: "@peculiar/x509 P-256, CSR parsed + verified + checked",
      baseline: "node-forge RSA-2048 signing only",
      unit: "certs/s",
      subjectValue: p256.fromCSR.perSecond,
      baselineValue: rsa.perSecond,
      ratio: p256.fromCSR.perSecond / rsa.perSecond,
      notes: `what the issuer does per request, minus TLS and authn; n=${p256.fromCSR.n}`,
    },
    {
      name: "issuer round trip (in-process HTTPS, new TLS connection per request)",
      subject: "POST /v1/x509-svid p50",
      baseline: "GET /healthz p50 (TLS + HTTP floor)",
      unit: "ms",
      subjectValue: p50,
      baselineValue: h50,
      ratio: h50 / p50,
      notes: `p99 issue ${percentile(rtt.issue, 99).toFixed(2)} ms over ${rtt.issue.length} requests; TokenReview not included (injected authn)`,
    },
  ];
}
