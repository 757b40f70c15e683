// What the injector needs to build the gateway sidecar: image, issuer, trust domain, resources.
// The webhook reads it from its environment; `warden check --mutate` from flags or a file. Both
// must agree for the template hash (and so the gateway.unmodified verdict) to match.
import * as z from "zod";
import {
  DEFAULT_APPROVALS_SECRET,
  DEFAULT_AUDIT_REDACT,
  DEFAULT_SVID_RENEW_AT,
} from "../api/v1alpha1/sidecar.ts";

// The API server canonicalises quantities ("0.1" becomes "100m"); only canonical forms are accepted
// here so that the injected sidecar reads back byte-for-byte and its hash stays stable.
const quantity = z
  .string()
  .regex(/^[1-9][0-9]*(m|Ki|Mi|Gi)?$/, {
    message: "a quantity must be canonical, e.g. 100m, 1, 64Mi or 1Gi (no decimals, no 1000m)",
  })
  .refine((q) => !(q.endsWith("m") && Number(q.slice(0, -1)) % 1000 === 0), {
    message: "write whole cores as 1, 2 ... rather than 1000m (the API server rewrites it)",
  });

const resources = z.object({ cpu: quantity, memory: quantity });

/**
 * Lower case, unique, sorted: the gateway compares field names case-insensitively, and one
 * spelling keeps the template hash the same however the chart value is written.
 */
export function normaliseRedact(fields: readonly string[]): string[] {
  return [...new Set(fields.map((f) => f.toLowerCase()))].sort();
}

export const sidecarConfig = z.object({
  image: z
    .string()
    .min(1)
    .regex(/^[^\s]+$/, {
      message: "image must be an image reference such as ghcr.io/agent-warden/gateway:0.1.0",
    }),
  imagePullPolicy: z.enum(["Always", "IfNotPresent", "Never"]).default("IfNotPresent"),
  issuerURL: z.url({ message: "issuerURL must be an https URL of the operator's issuer" }),
  trustDomain: z
    .string()
    .min(1)
    .regex(/^[a-z0-9.-]+$/, { message: "trustDomain is a lower-case DNS name such as cluster.local" }),
  requests: resources,
  limits: resources,
  /** UID/GID the gateway runs as (non-root, distroless "nonroot" by default). */
  runAsUser: z.number().int().min(1).default(65532),
  /** Fraction of the SVID lifetime after which the gateway renews (chart value svid.renewAt). */
  renewAt: z
    .number({ message: "renewAt (WARDEN_SVID_RENEW_AT) must be a number from 0.1 to 0.9, e.g. 0.5" })
    .min(0.1, { message: "renewAt (WARDEN_SVID_RENEW_AT) must be at least 0.1 (of the SVID lifetime)" })
    .max(0.9, {
      message: "renewAt (WARDEN_SVID_RENEW_AT) must be at most 0.9 (leave time to retry before expiry)",
    })
    .default(DEFAULT_SVID_RENEW_AT),
  /**
   * Secret in each agent's namespace with approver tokens (key "tokens", `<approver> <token>` per
   * line), mounted into the gateway sidecar alone (chart value gateway.approvals.secretName).
   */
  approvalsSecret: z
    .string()
    .max(253)
    .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, {
      message:
        "approvalsSecret (WARDEN_GATEWAY_APPROVALS_SECRET) must be a Secret name such as warden-approvers",
    })
    .default(DEFAULT_APPROVALS_SECRET),
  /** Argument field names the audit log redacts (chart value gateway.audit.redact). */
  auditRedact: z
    .array(
      z.string().regex(/^[A-Za-z0-9_.-]{1,128}$/, {
        message:
          "auditRedact (WARDEN_GATEWAY_AUDIT_REDACT) must be comma-separated argument names such as password,apiKey",
      }),
    )
    .min(1, { message: "auditRedact (WARDEN_GATEWAY_AUDIT_REDACT) must name at least one field" })
    .default([...DEFAULT_AUDIT_REDACT])
    .transform(normaliseRedact),
});
export type SidecarConfig = z.infer<typeof sidecarConfig>;

export const DEFAULT_SIDECAR_CONFIG: SidecarConfig = {
  image: "ghcr.io/agent-warden/gateway:0.1.0",
  imagePullPolicy: "IfNotPresent",
  issuerURL: "https://agent-warden-issuer.agent-warden.svc:8443",
  trustDomain: "cluster.local",
  // Measured (docs/performance.md, docs/e2e.md): ~100 MiB idle on the node, 112-116 MiB under load.
  requests: { cpu: "50m", memory: "128Mi" },
  limits: { cpu: "500m", memory: "256Mi" },
  runAsUser: 65532,
  renewAt: DEFAULT_SVID_RENEW_AT,
  approvalsSecret: DEFAULT_APPROVALS_SECRET,
  auditRedact: normaliseRedact(DEFAULT_AUDIT_REDACT),
};

/** Environment variables that override the defaults (the webhook Deployment and the CLI read them). */
export function sidecarConfigFromEnv(env: NodeJS.ProcessEnv, base: SidecarConfig = DEFAULT_SIDECAR_CONFIG) {
  return sidecarConfig.parse({
    ...base,
    image: env.WARDEN_GATEWAY_IMAGE ?? base.image,
    imagePullPolicy: env.WARDEN_GATEWAY_PULL_POLICY ?? base.imagePullPolicy,
    issuerURL: env.WARDEN_ISSUER_URL ?? base.issuerURL,
    trustDomain: env.WARDEN_TRUST_DOMAIN ?? base.trustDomain,
    requests: {
      cpu: env.WARDEN_GATEWAY_CPU_REQUEST ?? base.requests.cpu,
      memory: env.WARDEN_GATEWAY_MEMORY_REQUEST ?? base.requests.memory,
    },
    limits: {
      cpu: env.WARDEN_GATEWAY_CPU_LIMIT ?? base.limits.cpu,
      memory: env.WARDEN_GATEWAY_MEMORY_LIMIT ?? base.limits.memory,
    },
    // Number("x") is NaN, which the schema refuses with a message naming the variable.
    renewAt: env.WARDEN_SVID_RENEW_AT ? Number(env.WARDEN_SVID_RENEW_AT) : base.renewAt,
    approvalsSecret: env.WARDEN_GATEWAY_APPROVALS_SECRET ?? base.approvalsSecret,
    auditRedact: env.WARDEN_GATEWAY_AUDIT_REDACT
      ? env.WARDEN_GATEWAY_AUDIT_REDACT.split(",")
          .map((s) => s.trim())
          .filter(Boolean)
      : base.auditRedact,
  });
}

/** Bytes in a canonical memory quantity (the forms the schema accepts: plain bytes, Ki, Mi, Gi). */
export function memoryBytes(q: string): number {
  const m = /^([1-9][0-9]*)(Ki|Mi|Gi|m)?$/.exec(q);
  if (!m) throw new Error(`not a canonical memory quantity: ${q}`);
  const n = Number(m[1]);
  const unit = m[2];
  if (unit === "m") return n / 1000; // milli-bytes: legal, absurd for a memory limit
  return n * (unit === "Gi" ? 2 ** 30 : unit === "Mi" ? 2 ** 20 : unit === "Ki" ? 2 ** 10 : 1);
}

/**
 * V8 heap flags for the gateway from its container memory limit. The gateway holds 20–25 MB of
 * live data; what pushed it to 314 MiB under 16 connections was young-generation garbage and an
 * old space sized for the machine, not the container. A small semi-space keeps scavenges frequent
 * and cheap; the old space gets a quarter of the limit (never below 48 MiB, where it would thrash:
 * measured, --max-old-space-size alone at 96 without a small semi-space did), leaving the rest of
 * the limit to Node's own ~45 MiB, buffers, TLS and code. Issue 16; bench/rss.bench.ts measures it.
 */
export function v8FlagsFor(memoryLimit: string): string {
  const mib = Math.floor(memoryBytes(memoryLimit) / 2 ** 20);
  const semi = mib >= 512 ? 8 : mib >= 192 ? 4 : 2;
  const old = Math.max(48, Math.min(2048, Math.floor(mib / 4)));
  return `--max-semi-space-size=${semi} --max-old-space-size=${old}`;
}

/**
 * glibc malloc arenas for the gateway. By default glibc gives each thread that allocates its own
 * arena, up to 8 per core of the node (not of the container): Node's V8 and libuv worker threads
 * each keep freed memory in theirs, and the sidecar's RSS under load grew ~45 MiB while the V8 heap
 * grew ~12. One arena bounds that (two did too, less: bench/rss.bench.ts, docs/performance.md);
 * allocation contention does not matter for a single-threaded server.
 */
export const GATEWAY_MALLOC_ARENA_MAX = "1";

/**
 * glibc malloc thresholds for the gateway (GLIBC_TUNABLES). glibc raises its mmap threshold each
 * time a large block is freed (up to 32 MiB), so TLS records, socket buffers and V8's compiler
 * zones that were once mmap'd and given back end up carved from the heap, where free memory stays
 * resident unless it is at the top. Fixed at 128 KiB, blocks from there up are mmap'd and returned
 * to the kernel on free, and the heap is trimmed once 128 KiB are free at its top.
 */
export const GATEWAY_GLIBC_TUNABLES = "glibc.malloc.trim_threshold=131072:glibc.malloc.mmap_threshold=131072";

/**
 * The memory-related environment the injected gateway runs with, from its container memory limit:
 * what webhook/sidecar-template.ts injects and what bench/rss.bench.ts runs the gateway with.
 */
export function gatewayRuntimeEnv(memoryLimit: string): { name: string; value: string }[] {
  return [
    // A heap sized for the container, not the node: without it V8 lets young-generation garbage
    // grow past the memory limit under load and the kubelet OOM-kills the sidecar.
    { name: "NODE_OPTIONS", value: v8FlagsFor(memoryLimit) },
    { name: "MALLOC_ARENA_MAX", value: GATEWAY_MALLOC_ARENA_MAX },
    { name: "GLIBC_TUNABLES", value: GATEWAY_GLIBC_TUNABLES },
  ];
}
