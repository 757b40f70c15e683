// The gateway sidecar as the injector writes it, and the hash the validator compares. The template
// spells out every field the API server would default (probe timings, termination message, port
// protocol), so the stored container reads back exactly as injected; the hash is taken over a
// normalised form anyway, so a defaulted field can never make a genuine sidecar look tampered.
import { createHash } from "node:crypto";
import {
  credentialsSecretName,
  policyConfigMapName,
  TRUST_BUNDLE_CONFIGMAP,
} from "../api/v1alpha1/labels.ts";
import {
  DEFAULT_AUDIT_REDACT,
  DEFAULT_SVID_RENEW_AT,
  GATEWAY_ADMIN_PORT,
  GATEWAY_CONTAINER_NAME,
  GATEWAY_ENV,
  GATEWAY_INBOUND_PORT,
  GATEWAY_OUTBOUND_PORT,
  ISSUER_TOKEN_AUDIENCE,
  SIDECAR_VOLUMES,
} from "../api/v1alpha1/sidecar.ts";
import { canonicalJSON } from "../lib/canonical-json.ts";
import { gatewayRuntimeEnv, normaliseRedact, type SidecarConfig } from "./sidecar-config.ts";

/**
 * Bumped whenever the template's shape changes; recorded in the status annotation. v2: the
 * outbound gateway mounts the agent's credentials Secret and the approvers Secret.
 */
export const SIDECAR_TEMPLATE_VERSION = "v2";
export const GATEWAY_PORTS: readonly number[] = [
  GATEWAY_OUTBOUND_PORT,
  GATEWAY_ADMIN_PORT,
  GATEWAY_INBOUND_PORT,
];
/** Lifetime of the projected issuer token: the API server's minimum, the kubelet refreshes it. */
export const ISSUER_TOKEN_EXPIRATION_SECONDS = 600;

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type JsonObject = { [k: string]: Json };

/** The inbound gateway's upstream: the tool server's own port, on loopback inside the pod. */
export function inboundUpstream(port: number): string {
  return `http://127.0.0.1:${port}`;
}

export function gatewayContainer(cfg: SidecarConfig): JsonObject {
  return sidecarContainer(cfg, undefined);
}

/**
 * The gateway in inbound mode, in front of a tool server whose MCP endpoint listens on
 * `upstreamPort` in the same pod. It listens on GATEWAY_INBOUND_PORT on all interfaces (the only
 * port agents and NetworkPolicies use) and accepts only mTLS from gateway SVIDs.
 */
export function gatewayInboundContainer(cfg: SidecarConfig, upstreamPort: number): JsonObject {
  return sidecarContainer(cfg, upstreamPort);
}

function sidecarContainer(cfg: SidecarConfig, upstreamPort: number | undefined): JsonObject {
  const v = SIDECAR_VOLUMES;
  const inbound = upstreamPort !== undefined;
  return {
    name: GATEWAY_CONTAINER_NAME,
    image: cfg.image,
    imagePullPolicy: cfg.imagePullPolicy,
    // Native sidecar: an init container that keeps running, started before the agent containers
    // and stopped after them.
    restartPolicy: "Always",
    env: [
      ...(inbound
        ? [
            { name: GATEWAY_ENV.mode, value: "inbound" },
            // Other pods reach the tool server through here; the pod IP is not loopback.
            { name: GATEWAY_ENV.listen, value: `0.0.0.0:${GATEWAY_INBOUND_PORT}` },
            { name: GATEWAY_ENV.upstream, value: inboundUpstream(upstreamPort) },
          ]
        : [
            { name: GATEWAY_ENV.mode, value: "outbound" },
            { name: GATEWAY_ENV.listen, value: `127.0.0.1:${GATEWAY_OUTBOUND_PORT}` },
          ]),
      // The kubelet probes the pod IP, so the admin endpoint cannot be loopback-only.
      { name: GATEWAY_ENV.adminListen, value: `0.0.0.0:${GATEWAY_ADMIN_PORT}` },
      { name: GATEWAY_ENV.policyFile, value: `${v.policy.mountPath}/${v.policy.file}` },
      { name: GATEWAY_ENV.bundleFile, value: `${v.bundle.mountPath}/${v.bundle.file}` },
      { name: GATEWAY_ENV.tokenFile, value: `${v.token.mountPath}/${v.token.file}` },
      { name: GATEWAY_ENV.auditFile, value: `${v.audit.mountPath}/${v.audit.file}` },
      { name: GATEWAY_ENV.issuerURL, value: cfg.issuerURL },
      { name: GATEWAY_ENV.trustDomain, value: cfg.trustDomain },
      // V8 heap and malloc arenas sized for the container, not the node (sidecar-config.ts).
      ...gatewayRuntimeEnv(cfg.limits.memory),
      // Only when it differs from the gateway's own default: the default sidecar (and so the
      // template hash of every pod injected before this setting existed) stays byte-identical.
      ...(cfg.renewAt === DEFAULT_SVID_RENEW_AT
        ? []
        : [{ name: GATEWAY_ENV.svidRenewAt, value: String(cfg.renewAt) }]),
      ...(normaliseRedact(cfg.auditRedact).join() === normaliseRedact(DEFAULT_AUDIT_REDACT).join()
        ? []
        : [{ name: GATEWAY_ENV.auditRedact, value: normaliseRedact(cfg.auditRedact).join(",") }]),
      // Outbound only: the credentials it substitutes upstream and the approvers it accepts.
      ...(inbound
        ? []
        : [
            { name: GATEWAY_ENV.credentialsDir, value: v.credentials.mountPath },
            {
              name: GATEWAY_ENV.approvalTokensFile,
              value: `${v.approvers.mountPath}/${v.approvers.key}`,
            },
          ]),
    ],
    ports: [
      ...(inbound ? [{ name: "warden-inbound", containerPort: GATEWAY_INBOUND_PORT, protocol: "TCP" }] : []),
      { name: "warden-admin", containerPort: GATEWAY_ADMIN_PORT, protocol: "TCP" },
    ],
    startupProbe: {
      httpGet: { path: "/readyz", port: GATEWAY_ADMIN_PORT, scheme: "HTTP" },
      periodSeconds: 1,
      timeoutSeconds: 1,
      successThreshold: 1,
      failureThreshold: 60,
    },
    resources: {
      requests: { cpu: cfg.requests.cpu, memory: cfg.requests.memory },
      limits: { cpu: cfg.limits.cpu, memory: cfg.limits.memory },
    },
    securityContext: {
      runAsNonRoot: true,
      runAsUser: cfg.runAsUser,
      runAsGroup: cfg.runAsUser,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      privileged: false,
      capabilities: { drop: ["ALL"] },
      seccompProfile: { type: "RuntimeDefault" },
    },
    volumeMounts: [
      { name: v.token.name, mountPath: v.token.mountPath, readOnly: true },
      { name: v.bundle.name, mountPath: v.bundle.mountPath, readOnly: true },
      { name: v.policy.name, mountPath: v.policy.mountPath, readOnly: true },
      { name: v.audit.name, mountPath: v.audit.mountPath },
      ...(inbound
        ? []
        : [
            { name: v.credentials.name, mountPath: v.credentials.mountPath, readOnly: true },
            { name: v.approvers.name, mountPath: v.approvers.mountPath, readOnly: true },
          ]),
    ],
    terminationMessagePath: "/dev/termination-log",
    terminationMessagePolicy: "File",
  };
}

/**
 * The volumes the outbound sidecar mounts: token, bundle, policy and audit as for every gateway,
 * plus the agent's credentials Secret (projected by the operator) and the approvers Secret. Both
 * Secrets are optional: an agent without credentialed tools has none, and without approvers every
 * approval times out. The names depend only on the agent and the chart, never on its grants, so
 * the pod spec (and its hash) stays the same when grants change.
 */
export function gatewayVolumes(agent: string, cfg: Pick<SidecarConfig, "approvalsSecret">): JsonObject[] {
  const v = SIDECAR_VOLUMES;
  return [
    ...sidecarVolumes(policyConfigMapName(agent)),
    {
      name: v.credentials.name,
      secret: { secretName: credentialsSecretName(agent), optional: true, defaultMode: 0o444 },
    },
    {
      name: v.approvers.name,
      secret: { secretName: cfg.approvalsSecret, optional: true, defaultMode: 0o444 },
    },
  ];
}

/** The inbound gateway's volumes: the same four, with the manifest's inbound policy ConfigMap. */
export function gatewayInboundVolumes(manifest: string): JsonObject[] {
  return sidecarVolumes(inboundConfigMapName(manifest));
}

/** ConfigMap of a ToolManifest's InboundPolicy (written by the operator). */
export function inboundConfigMapName(manifest: string): string {
  return `warden-inbound-${manifest}`;
}

function sidecarVolumes(policyConfigMap: string): JsonObject[] {
  const v = SIDECAR_VOLUMES;
  return [
    {
      name: v.token.name,
      projected: {
        sources: [
          {
            serviceAccountToken: {
              audience: ISSUER_TOKEN_AUDIENCE,
              expirationSeconds: ISSUER_TOKEN_EXPIRATION_SECONDS,
              path: v.token.file,
            },
          },
        ],
        defaultMode: 0o444,
      },
    },
    { name: v.bundle.name, configMap: { name: TRUST_BUNDLE_CONFIGMAP, defaultMode: 0o444 } },
    { name: v.policy.name, configMap: { name: policyConfigMap, defaultMode: 0o444 } },
    { name: v.audit.name, emptyDir: { sizeLimit: "64Mi" } },
  ];
}

/** Fills in what the API server defaults, so a stored container hashes like the injected one. */
function normaliseContainer(c: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...c };
  out.terminationMessagePath ??= "/dev/termination-log";
  out.terminationMessagePolicy ??= "File";
  if (Array.isArray(out.ports)) {
    out.ports = out.ports.map((p) =>
      p && typeof p === "object" ? { protocol: "TCP", ...(p as Record<string, unknown>) } : p,
    );
  }
  for (const probe of ["startupProbe", "readinessProbe", "livenessProbe"]) {
    const p = out[probe];
    if (p && typeof p === "object") {
      const q: Record<string, unknown> = {
        timeoutSeconds: 1,
        periodSeconds: 10,
        successThreshold: 1,
        failureThreshold: 3,
        ...(p as Record<string, unknown>),
      };
      if (q.httpGet && typeof q.httpGet === "object")
        q.httpGet = { scheme: "HTTP", ...(q.httpGet as object) };
      out[probe] = q;
    }
  }
  return out;
}

/** The project's canonical JSON (lib/canonical-json.ts), re-exported for the webhook rules. */
export { canonicalJSON };

/**
 * Recent container hashes by the container's plain JSON text. Every agent pod carries the same
 * injected sidecar, so the API server sends the same container bytes review after review: one
 * native JSON.stringify and a lookup replace normalising, canonicalising and hashing it again (the
 * largest cost of a review after TLS, issue 16). Bounded: the oldest entry goes first.
 */
const hashCache = new Map<string, string>();
const HASH_CACHE_ENTRIES = 256;
/** Containers larger than this are hashed without caching (a key that size is not worth keeping). */
const HASH_CACHE_MAX_KEY = 16 * 1024;

export function containerHash(container: unknown): string {
  let key: string | undefined;
  try {
    key = JSON.stringify(container);
  } catch {
    key = undefined;
  }
  if (key !== undefined && key.length <= HASH_CACHE_MAX_KEY) {
    const hit = hashCache.get(key);
    if (hit !== undefined) return hit;
  }
  const normalised =
    container && typeof container === "object"
      ? normaliseContainer(container as Record<string, unknown>)
      : container;
  const hash = `sha256:${createHash("sha256").update(canonicalJSON(normalised)).digest("hex")}`;
  if (key !== undefined && key.length <= HASH_CACHE_MAX_KEY) {
    if (hashCache.size >= HASH_CACHE_ENTRIES) hashCache.delete(hashCache.keys().next().value as string);
    hashCache.set(key, hash);
  }
  return hash;
}

export function templateHash(cfg: SidecarConfig): string {
  return containerHash(gatewayContainer(cfg));
}

export function inboundTemplateHash(cfg: SidecarConfig, upstreamPort: number): string {
  return containerHash(gatewayInboundContainer(cfg, upstreamPort));
}

/** The image repository without tag or digest: ghcr.io/x/gateway:1.2@sha256:.. -> ghcr.io/x/gateway. */
export function imageRepository(image: string): string {
  const noDigest = image.split("@")[0]!;
  const slash = noDigest.lastIndexOf("/");
  const colon = noDigest.lastIndexOf(":");
  return colon > slash ? noDigest.slice(0, colon) : noDigest;
}

export interface GatewayStatus {
  version: string;
  templateHash: string;
}

export function parseGatewayStatus(annotation: string | undefined): GatewayStatus | undefined {
  if (!annotation) return undefined;
  try {
    const v = JSON.parse(annotation) as unknown;
    if (
      v &&
      typeof v === "object" &&
      typeof (v as GatewayStatus).version === "string" &&
      typeof (v as GatewayStatus).templateHash === "string"
    )
      return { version: (v as GatewayStatus).version, templateHash: (v as GatewayStatus).templateHash };
  } catch {
    // fall through: a malformed annotation is treated as missing
  }
  return undefined;
}
