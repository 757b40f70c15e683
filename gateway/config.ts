// Gateway configuration from the environment (names in api/v1alpha1/sidecar.ts), validated with
// zod: a bad value stops the process at start with a message naming the variable and the fix.
import * as z from "zod";
import { DEFAULT_SVID_RENEW_AT, GATEWAY_ENV } from "../api/v1alpha1/sidecar.ts";
import { ValidationError } from "../lib/errors.ts";
import { DEFAULT_REDACT_FIELDS } from "./audit/redact.ts";

const hostPort = (name: string) =>
  z
    .string()
    .regex(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}$/, {
      message: `${name} must be host:port, e.g. 127.0.0.1:15001`,
    })
    .transform((s) => {
      const i = s.lastIndexOf(":");
      return { host: s.slice(0, i).replace(/^\[|\]$/g, ""), port: Number(s.slice(i + 1)) };
    });

const base = z.object({
  listen: hostPort(GATEWAY_ENV.listen),
  adminListen: hostPort(GATEWAY_ENV.adminListen),
  policyFile: z
    .string()
    .min(1, { message: `${GATEWAY_ENV.policyFile} is required (the mounted policy file)` }),
  bundleFile: z.string().min(1).optional(),
  auditFile: z.string().min(1, { message: `${GATEWAY_ENV.auditFile} is required (a writable path)` }),
  trustDomain: z.string().min(1).optional(),
  /** SVID from files (Secret delivery, tests) … */
  svidCertFile: z.string().min(1).optional(),
  svidKeyFile: z.string().min(1).optional(),
  /** … or from the issuer. */
  issuerURL: z.url().optional(),
  tokenFile: z.string().min(1).optional(),
  credentialsDir: z.string().min(1).optional(),
  approvalTokensFile: z.string().min(1).optional(),
  auditRedact: z.array(z.string()).default(DEFAULT_REDACT_FIELDS),
  taskTokenAudience: z.string().min(1).optional(),
  /** Issuer mode: renew the SVID after this fraction of its lifetime (±10% jitter). */
  svidRenewAt: z
    .number({ message: `${GATEWAY_ENV.svidRenewAt} must be a number from 0.1 to 0.9, e.g. 0.5` })
    .min(0.1, { message: `${GATEWAY_ENV.svidRenewAt} must be at least 0.1 (of the SVID lifetime)` })
    .max(0.9, {
      message: `${GATEWAY_ENV.svidRenewAt} must be at most 0.9 (leave time to retry before expiry)`,
    })
    .default(DEFAULT_SVID_RENEW_AT),
  maxBodyBytes: z
    .number()
    .int()
    .min(1024)
    .default(1024 * 1024),
  maxDepth: z.number().int().min(4).max(256).default(32),
  auditMaxQueue: z.number().int().min(1).default(10_000),
  auditCheckpointEvery: z.number().int().min(1).default(1000),
  auditCheckpointIntervalMs: z.number().int().min(100).default(60_000),
  upstreamTimeoutMs: z.number().int().min(100).default(300_000),
  allowedOrigins: z
    .array(
      z.string().regex(/^https?:\/\/[^/\s]+$/, {
        message: `${GATEWAY_ENV.allowedOrigins} entries must be origins like http://localhost:3000`,
      }),
    )
    .default([]),
  allowedHosts: z
    .array(
      z.string().regex(/^[A-Za-z0-9.-]+$/, {
        message: `${GATEWAY_ENV.allowedHosts} entries must be host names without port`,
      }),
    )
    .default([]),
  drainTimeoutMs: z
    .number({ message: `${GATEWAY_ENV.drainTimeoutMs} must be a number of milliseconds` })
    .int()
    .min(0)
    .default(20_000),
});

export const gatewayConfig = z.discriminatedUnion("mode", [
  base.extend({ mode: z.literal("outbound") }),
  base.extend({
    mode: z.literal("inbound"),
    upstream: z.url({
      message: `${GATEWAY_ENV.upstream} must be the local tool server URL, e.g. http://127.0.0.1:8080`,
    }),
  }),
]);
export type GatewayConfig = z.infer<typeof gatewayConfig>;
export type GatewayConfigInput = z.input<typeof gatewayConfig>;

/** Reads and validates the configuration from `env`. */
export function configFromEnv(env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  const e = (k: keyof typeof GATEWAY_ENV) => env[GATEWAY_ENV[k]] || undefined;
  const num = (k: string) => (env[k] ? Number(env[k]) : undefined);
  const list = (v: string | undefined) =>
    v
      ?.split(",")
      .map((s) => s.trim())
      .filter(Boolean);
  const raw = {
    mode: e("mode"),
    listen: e("listen"),
    adminListen: e("adminListen") ?? "127.0.0.1:15020",
    policyFile: e("policyFile") ?? "",
    bundleFile: e("bundleFile"),
    auditFile: e("auditFile") ?? "",
    trustDomain: e("trustDomain"),
    svidCertFile: e("svidCertFile"),
    svidKeyFile: e("svidKeyFile"),
    issuerURL: e("issuerURL"),
    tokenFile: e("tokenFile"),
    credentialsDir: e("credentialsDir"),
    approvalTokensFile: e("approvalTokensFile"),
    auditRedact: e("auditRedact")
      ?.split(",")
      .map((s) => s.trim())
      .filter(Boolean),
    taskTokenAudience: e("taskTokenAudience"),
    allowedOrigins: list(e("allowedOrigins")),
    allowedHosts: list(e("allowedHosts")),
    drainTimeoutMs: e("drainTimeoutMs") === undefined ? undefined : Number(e("drainTimeoutMs")),
    // Number("x") is NaN, which the schema refuses (never silently defaulted); unset means 0.5.
    svidRenewAt: e("svidRenewAt") === undefined ? undefined : Number(e("svidRenewAt")),
    upstream: e("upstream"),
    maxBodyBytes: num("WARDEN_MAX_BODY_BYTES"),
    auditCheckpointEvery: num("WARDEN_AUDIT_CHECKPOINT_EVERY"),
    auditCheckpointIntervalMs: num("WARDEN_AUDIT_CHECKPOINT_INTERVAL_MS"),
  };
  return parseConfig(raw);
}

export function parseConfig(raw: unknown): GatewayConfig {
  const r = gatewayConfig.safeParse(raw);
  if (!r.success) {
    throw new ValidationError(
      "gateway configuration",
      r.error.issues.map((i) => {
        const key = String(i.path[0] ?? "");
        const envName = key in GATEWAY_ENV ? GATEWAY_ENV[key as keyof typeof GATEWAY_ENV] : key;
        return {
          path: envName,
          message: key === "mode" ? `${GATEWAY_ENV.mode} must be outbound or inbound` : i.message,
        };
      }),
    );
  }
  const c = r.data;
  const fileSvid = c.svidCertFile !== undefined || c.svidKeyFile !== undefined;
  if (fileSvid && !(c.svidCertFile && c.svidKeyFile)) {
    throw new ValidationError("gateway configuration", [
      {
        path: GATEWAY_ENV.svidCertFile,
        message: `set both ${GATEWAY_ENV.svidCertFile} and ${GATEWAY_ENV.svidKeyFile}`,
      },
    ]);
  }
  if (!fileSvid && !c.issuerURL) {
    throw new ValidationError("gateway configuration", [
      {
        path: GATEWAY_ENV.issuerURL,
        message: `set ${GATEWAY_ENV.issuerURL} (issuer mode) or the SVID file variables`,
      },
    ]);
  }
  return c;
}
