// X.509-SVID issuance (issue 16): the DER-template issuer from a CSR against the native floor
// (OpenSSL verifying the CSR and signing a TBSCertificate of the same size, nothing else), the
// @peculiar/x509 builder it replaced, and node-forge RSA-2048 (DESIGN.md §4's first baseline), each
// for a bounded time on one core in the same process; and the in-process HTTPS issuer (authentication
// injected: no cluster needed, so TLS + JSON + CSR checks + signing, not TokenReview), with a new TLS
// connection per request and with keep-alive.
import { createPrivateKey, createPublicKey, sign, verify } from "node:crypto";
import * as https from "node:https";
import forge from "node-forge";
import { Registry } from "prom-client";
import { createRootCA } from "../lib/identity/ca.ts";
import { ECDSA_SHA256, generateP256, randomSerial, x509 } from "../lib/identity/crypto.ts";
import { createCSR } from "../lib/identity/csr.ts";
import { signX509SVID, signX509SVIDFromCSR } from "../lib/identity/x509-svid.ts";
import { createLogger } from "../lib/log.ts";
import { Authority } from "../operator/identity/authority.ts";
import { startIssuerServer } from "../operator/identity/issuer-server.ts";
import { identityMetrics } from "../operator/identity/metrics.ts";
import { KeyedTokenBuckets } from "../operator/identity/rate-limit.ts";
import type { BenchOptions, BenchResult } from "./run.ts";

let SECONDS = 3;
const ID = "spiffe://bench.warden.dev/ns/agents/sa/bot";

async function rate(
  fn: () => Promise<unknown> | unknown,
  seconds = SECONDS,
): Promise<{ perSecond: number; n: number }> {
  // Warm-up: let the JIT settle before counting (a tenth of the measured time, at least once).
  const warm = performance.now() + seconds * 100;
  do await fn();
  while (performance.now() < warm);
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
  // The native floor: verify the CSR's signature over its certificationRequestInfo and sign a
  // TBSCertificate of the SVID's size with OpenSSL; no parsing, no encoding, no checks.
  const csrDER = Buffer.from(x509.PemConverter.decode(csrPem)[0]!);
  const csr = new x509.Pkcs10CertificateRequest(csrDER);
  const cri = Buffer.from((csr as unknown as { tbs: ArrayBuffer }).tbs);
  const csrSig = Buffer.from(x509.PemConverter.decode(csr.toString("pem"))[0]!).subarray(
    -csr.signature.byteLength,
  );
  const csrKey = createPublicKey({ key: Buffer.from(csr.publicKey.rawData), format: "der", type: "spki" });
  const svid = await signX509SVIDFromCSR({ ca, csrPem, spiffeID: ID, ttlMs: 900_000 });
  const tbs = Buffer.from((svid.cert as unknown as { tbs: ArrayBuffer }).tbs);
  const caKey = createPrivateKey(ca.keyPem);
  const floor = await rate(() => {
    verify("sha256", cri, csrKey, csrSig);
    return sign("sha256", tbs, caKey);
  });
  // The same with the CSR's key imported per request, as any issuer must (a new key per renewal):
  // what bounds the subject, reported beside the floor.
  const spkiPem = `-----BEGIN PUBLIC KEY-----\n${Buffer.from(csr.publicKey.rawData).toString("base64")}\n-----END PUBLIC KEY-----\n`;
  const floorWithImport = await rate(() => {
    verify("sha256", cri, createPublicKey(spkiPem), csrSig);
    return sign("sha256", tbs, caKey);
  });
  // What issuance cost before: the @peculiar/x509 generator, CSR parsed and verified by it.
  const caSKI = ca.cert.getExtension(x509.SubjectKeyIdentifierExtension)!;
  const peculiar = await rate(async () => {
    const req = new x509.Pkcs10CertificateRequest(csrDER);
    await req.verify();
    return x509.X509CertificateGenerator.create({
      serialNumber: randomSerial(),
      subject: [{ O: ["agent-warden"] }],
      issuer: ca.cert.subjectName,
      notBefore: new Date(Date.now() - 30_000),
      notAfter: new Date(Date.now() + 900_000),
      publicKey: req.publicKey,
      signingKey: ca.privateKey,
      signingAlgorithm: ECDSA_SHA256,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension(
          [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth],
          false,
        ),
        new x509.SubjectAlternativeNameExtension([{ type: "url", value: ID }], false),
        await x509.SubjectKeyIdentifierExtension.create(req.publicKey),
        new x509.AuthorityKeyIdentifierExtension(caSKI.keyId, false),
      ],
    });
  });
  return { fromCSR, fromKey, floor, floorWithImport, peculiar };
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
  // Throughput with keep-alive: 8 requests in flight on reused connections.
  const keepAlive = new https.Agent({ keepAlive: true, maxSockets: 8 });
  const post = () =>
    new Promise<void>((resolve, reject) => {
      const req = https.request(
        new URL("/v1/x509-svid", server.url),
        {
          method: "POST",
          ca: authority.bundlePem(),
          agent: keepAlive,
          headers: { "content-type": "application/json", authorization: "Bearer bench" },
        },
        (res) => {
          res.resume();
          res.on("end", () =>
            res.statusCode === 200 ? resolve() : reject(new Error(`status ${res.statusCode}`)),
          );
        },
      );
      req.on("error", reject);
      req.end(body);
    });
  let done = 0;
  const kaStart = performance.now();
  const kaUntil = kaStart + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (performance.now() < kaUntil && done < 100_000) {
        await post();
        done++;
      }
    }),
  );
  const keepAlivePerSecond = done / ((performance.now() - kaStart) / 1000);
  keepAlive.destroy();
  const issue: number[] = [];
  const health: number[] = [];
  const until = performance.now() + SECONDS * 1000;
  while (performance.now() < until && issue.length < 2000) {
    issue.push(await call("/v1/x509-svid", "POST", body));
    health.push(await call("/healthz", "GET"));
  }
  await server.close();
  return { issue, health, keepAlivePerSecond };
}

export async function run({ smoke }: BenchOptions): Promise<BenchResult[]> {
  SECONDS = smoke ? 0.2 : 3;
  const p256 = await p256Signing();
  const rsa = await forgeRSASigning();
  const rtt = await issuerRoundTrip();
  const p50 = percentile(rtt.issue, 50);
  const h50 = percentile(rtt.health, 50);
  return [
    {
      name: "SVID issuance from a CSR (one core)",
      subject: "DER template: CSR checked natively, crypto.sign",
      baseline: "native floor: crypto.verify(CSR) + crypto.sign(TBS) only",
      unit: "certs/s",
      subjectValue: p256.fromCSR.perSecond,
      baselineValue: p256.floor.perSecond,
      ratio: p256.fromCSR.perSecond / p256.floor.perSecond,
      target: "≥ 2,500/s per core",
      met: p256.fromCSR.perSecond >= 2500,
      notes: `floor with the CSR key imported per request: ${p256.floorWithImport.perSecond.toFixed(0)}/s (${(p256.floorWithImport.perSecond / p256.floor.perSecond).toFixed(2)}× the floor); @peculiar/x509 path it replaced: ${p256.peculiar.perSecond.toFixed(0)}/s; node-forge RSA-2048: ${rsa.perSecond.toFixed(0)}/s; n=${p256.fromCSR.n}`,
    },
    {
      name: "SVID signing for an operator-made key (Secret delivery)",
      subject: "DER template",
      baseline: "@peculiar/x509 generator (before issue 16, CSR included)",
      unit: "certs/s",
      subjectValue: p256.fromKey.perSecond,
      baselineValue: p256.peculiar.perSecond,
      ratio: p256.fromKey.perSecond / p256.peculiar.perSecond,
      notes: `n=${p256.fromKey.n}/${p256.peculiar.n}`,
    },
    {
      name: "issuer over HTTPS, keep-alive, 8 in flight",
      subject: "POST /v1/x509-svid",
      baseline: "native floor (same run, one core, no HTTP)",
      unit: "certs/s",
      subjectValue: rtt.keepAlivePerSecond,
      baselineValue: p256.floor.perSecond,
      ratio: rtt.keepAlivePerSecond / p256.floor.perSecond,
      target: "≥ 2,000/s",
      met: rtt.keepAlivePerSecond >= 2000,
      notes: "client and issuer share the process (and the cores): a lower bound on the issuer alone",
    },
    {
      name: "issuer round trip, new TLS connection per request",
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
