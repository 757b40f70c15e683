// The webhook's /validate under 16 concurrent TLS keep-alive connections, reviewing the golden
// fixture's compliant pre-injected agent pod (the common case: every rule runs, the sidecar hash is
// checked), against a bare node:https server answering a fixed AdmissionReview on the same driver,
// in the same run. Both servers live in this process, as does the driver: the ratio is the figure.
import { readFileSync } from "node:fs";
import { createServer } from "node:https";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { Registry } from "prom-client";
import { Agent, request } from "undici";
import { parse } from "yaml";
import { readInputs } from "../cli/input.ts";
import { createRootCA } from "../lib/identity/ca.ts";
import { issueServingCert } from "../lib/identity/serving-cert.ts";
import { createLogger } from "../lib/log.ts";
import { StaticContextSource } from "../webhook/context.ts";
import { engineSettings } from "../webhook/evaluate.ts";
import { startWebhookServer } from "../webhook/server.ts";
import { sidecarConfig } from "../webhook/sidecar-config.ts";
import type { BenchOptions, BenchResult } from "./run.ts";

const ROOT = "test/fixtures/admission";
const NS = "team-a";
const CONNECTIONS = 16;

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

async function drive(
  url: string,
  ca: string,
  body: string,
  seconds: number,
): Promise<{ perSecond: number; p50: number; p99: number; n: number }> {
  const dispatcher = new Agent({ connect: { ca }, connections: CONNECTIONS, pipelining: 1 });
  const lat: number[] = [];
  const one = async () => {
    const t = performance.now();
    const res = await request(url, {
      method: "POST",
      body,
      headers: { "content-type": "application/json" },
      dispatcher,
    });
    const text = await res.body.text();
    if (res.statusCode !== 200 || !text.includes('"allowed":true'))
      throw new Error(`review failed: ${res.statusCode} ${text.slice(0, 200)}`);
    return performance.now() - t;
  };
  // Warm-up (TLS handshakes, JIT), then the measured window.
  const warmUntil = performance.now() + Math.max(200, seconds * 200);
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (performance.now() < warmUntil) await one();
    }),
  );
  const start = performance.now();
  const until = start + seconds * 1000;
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (performance.now() < until && lat.length < 1_000_000) lat.push(await one());
    }),
  );
  const elapsed = (performance.now() - start) / 1000;
  await dispatcher.close();
  lat.sort((a, b) => a - b);
  return { perSecond: lat.length / elapsed, p50: pct(lat, 50), p99: pct(lat, 99), n: lat.length };
}

export async function run({ smoke }: BenchOptions): Promise<BenchResult[]> {
  const seconds = smoke ? 0.3 : 5;
  const cfg = sidecarConfig.parse(parse(readFileSync(join(ROOT, "sidecar-config.yaml"), "utf8")));
  const context = readInputs([join(ROOT, "context")], () => "").map((d) => d.object);
  const [pod] = readInputs([join(ROOT, "manifests", "09-compliant-preinjected-pod.yaml")], () => "").map(
    (d) => d.object,
  );
  const body = JSON.stringify({
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    request: {
      uid: "3f7a1c2e-bench",
      kind: { group: "", version: "v1", kind: "Pod" },
      resource: { group: "", version: "v1", resource: "pods" },
      namespace: NS,
      operation: "CREATE",
      object: pod,
    },
  });
  const root = await createRootCA({ trustDomain: "bench.test", ttlMs: 3_600_000 });
  const tls = await issueServingCert({
    ca: root,
    dnsNames: [],
    ipAddresses: ["127.0.0.1"],
    ttlMs: 3_600_000,
  });

  const webhook = await startWebhookServer({
    tls: { keyPem: tls.keyPem, certPem: tls.certChainPem },
    source: new StaticContextSource(context, NS),
    sidecar: cfg,
    settings: engineSettings(cfg),
    registry: new Registry(),
    log: createLogger("webhook", { level: "error" }),
  });
  webhook.setReady(true);
  const fixed = JSON.stringify({
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    response: { uid: "3f7a1c2e-bench", allowed: true },
  });
  const bare = createServer(
    { key: tls.keyPem, cert: tls.certChainPem, minVersion: "TLSv1.2" },
    (req, res) => {
      req.resume();
      req.on("end", () => {
        res.writeHead(200, {
          "content-type": "application/json",
          "content-length": Buffer.byteLength(fixed),
        });
        res.end(fixed);
      });
    },
  );
  await new Promise<void>((r) => bare.listen(0, "127.0.0.1", () => r()));
  try {
    const bareURL = `https://127.0.0.1:${(bare.address() as AddressInfo).port}/validate`;
    // Interleaved halves so that load from other processes hits both alike.
    const w1 = await drive(`${webhook.url}/validate`, root.certPem, body, seconds / 2);
    const b1 = await drive(bareURL, root.certPem, body, seconds / 2);
    const w2 = await drive(`${webhook.url}/validate`, root.certPem, body, seconds / 2);
    const b2 = await drive(bareURL, root.certPem, body, seconds / 2);
    const avg = (a: number, b: number) => (a + b) / 2;
    const w = {
      perSecond: avg(w1.perSecond, w2.perSecond),
      p50: avg(w1.p50, w2.p50),
      p99: avg(w1.p99, w2.p99),
    };
    const b = {
      perSecond: avg(b1.perSecond, b2.perSecond),
      p50: avg(b1.p50, b2.p50),
      p99: avg(b1.p99, b2.p99),
    };
    return [
      {
        name: "webhook /validate p99, 16 TLS connections",
        subject: "agent-warden webhook (compliant injected pod)",
        baseline: "bare node:https answering a fixed review",
        unit: "ms",
        subjectValue: w.p99,
        baselineValue: b.p99,
        ratio: b.p99 / w.p99,
        target: "≤ 5 ms p99",
        met: w.p99 <= 5,
        notes: `p50 ${w.p50.toFixed(2)} vs ${b.p50.toFixed(2)} ms; ${w1.n + w2.n} reviews; driver in the same process`,
      },
      {
        name: "webhook /validate throughput, 16 TLS connections",
        subject: "agent-warden webhook",
        baseline: "bare node:https, fixed review",
        unit: "reviews/s",
        subjectValue: w.perSecond,
        baselineValue: b.perSecond,
        ratio: w.perSecond / b.perSecond,
        target: "≥ 8,000/s",
        met: w.perSecond >= 8000,
        notes: "the request body (3.4 kB pod) is sent to both",
      },
    ];
  } finally {
    await webhook.close();
    bare.closeAllConnections();
    await new Promise<void>((r) => bare.close(() => r()));
  }
}
