// Operator configuration from flags and environment, validated with zod: every error names the
// flag (and its environment variable) and what a valid value looks like.
import { existsSync, readFileSync } from "node:fs";
import { hostname } from "node:os";
import { parseArgs } from "node:util";
import * as z from "zod";
import { DNS_LABEL_PATTERN, DNS_SUBDOMAIN_PATTERN, DURATION_PATTERN } from "../api/v1alpha1/index.ts";
import { ValidationError, zodIssues } from "../lib/errors.ts";
import { parseDurationMs } from "./controllers/duration.ts";

const IN_CLUSTER_NAMESPACE_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

/** flag name → environment variable, for help text and error messages. */
export const FLAGS = {
  kubeconfig: "KUBECONFIG",
  namespace: "WARDEN_OPERATOR_NAMESPACE",
  "service-account": "WARDEN_OPERATOR_SERVICE_ACCOUNT",
  "trust-domain": "WARDEN_TRUST_DOMAIN",
  "leader-elect": "WARDEN_LEADER_ELECT",
  "leader-election-id": "WARDEN_LEADER_ELECTION_ID",
  "leader-election-namespace": "WARDEN_LEADER_ELECTION_NAMESPACE",
  "lease-duration": "WARDEN_LEASE_DURATION",
  "renew-deadline": "WARDEN_RENEW_DEADLINE",
  "retry-period": "WARDEN_RETRY_PERIOD",
  "instance-id": "WARDEN_INSTANCE_ID",
  "kube-api-qps": "WARDEN_KUBE_API_QPS",
  "kube-api-burst": "WARDEN_KUBE_API_BURST",
  "probe-host": "WARDEN_PROBE_HOST",
  "probe-port": "WARDEN_PROBE_PORT",
  "issuer-host": "WARDEN_ISSUER_HOST",
  "issuer-port": "WARDEN_ISSUER_PORT",
  "issuer-dns-names": "WARDEN_ISSUER_DNS_NAMES",
  "issuer-pod-labels": "WARDEN_ISSUER_POD_LABELS",
  "dns-namespace": "WARDEN_DNS_NAMESPACE",
  "dns-pod-labels": "WARDEN_DNS_POD_LABELS",
  "svid-max-ttl": "WARDEN_SVID_MAX_TTL",
  "svid-renew-at": "WARDEN_SVID_RENEW_AT",
  "svid-ttl-override": "WARDEN_SVID_TTL_OVERRIDE",
  identity: "WARDEN_IDENTITY",
  "enclave-cluster-role": "WARDEN_ENCLAVE_CLUSTER_ROLE",
  namespaces: "WARDEN_WATCH_NAMESPACES",
  "resync-period": "WARDEN_RESYNC_PERIOD",
  "bundle-resync": "WARDEN_BUNDLE_RESYNC",
  "identity-workers": "WARDEN_IDENTITY_WORKERS",
} as const;
type Flag = keyof typeof FLAGS;

const dur = (flag: Flag) =>
  z
    .string()
    .regex(new RegExp(DURATION_PATTERN), { message: `--${flag} must be a duration such as 2s, 15s or 10m` })
    .transform((s) => parseDurationMs(s));
const num = (flag: Flag, min: number, max: number, int = true) =>
  z.coerce
    .number({ message: `--${flag} must be a number` })
    .refine((n) => Number.isFinite(n) && n >= min && n <= max && (!int || Number.isInteger(n)), {
      message: `--${flag} must be ${int ? "an integer" : "a number"} from ${min} to ${max}`,
    });
const bool = (flag: Flag) =>
  z
    .enum(["true", "false", "on", "off"], { message: `--${flag} must be true/false (or on/off)` })
    .transform((v) => v === "true" || v === "on");
const dnsLabel = (flag: Flag) =>
  z
    .string()
    .regex(new RegExp(DNS_LABEL_PATTERN), {
      message: `--${flag} must be a DNS label (lower-case letters, digits, '-')`,
    })
    .max(63);

// A label key (optional DNS-subdomain prefix, then a name) and value, as Kubernetes accepts them.
const LABEL_KEY =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

/** "k=v,k2=v2" → {k: v, k2: v2}; at least one pair, every key and value valid, no key twice. */
const labelSelector = (flag: Flag) =>
  z.string().transform((s, ctx) => {
    const out: Record<string, string> = {};
    const pairs = s
      .split(",")
      .map((x) => x.trim())
      .filter(Boolean);
    const bad = (message: string) => {
      ctx.addIssue({ code: "custom", message: `--${flag} ${message}` });
      return z.NEVER;
    };
    if (pairs.length === 0)
      return bad("must name at least one label, e.g. app.kubernetes.io/component=operator");
    for (const pair of pairs) {
      const i = pair.indexOf("=");
      const [key, value] = i < 0 ? [pair, undefined] : [pair.slice(0, i), pair.slice(i + 1)];
      if (value === undefined || !LABEL_KEY.test(key) || key.length > 316 || !LABEL_VALUE.test(value))
        return bad(`must be comma-separated key=value labels, e.g. k8s-app=kube-dns (got "${pair}")`);
      if (key in out) return bad(`names label ${key} twice`);
      out[key] = value;
    }
    return out;
  });

/** The range of spec.svid.ttl and maxSvidTTL in the API: a cluster-wide cap outside it means nothing. */
const SVID_TTL_MIN_MS = 5 * 60_000;
const SVID_TTL_MAX_MS = 24 * 3_600_000;

export const configSchema = z
  .object({
    kubeconfig: z.string().optional(),
    namespace: dnsLabel("namespace"),
    "service-account": dnsLabel("service-account"),
    "trust-domain": z
      .string()
      .regex(/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/, {
        message: "--trust-domain must be a lower-case DNS name such as cluster.local",
      })
      .max(255),
    "leader-elect": bool("leader-elect"),
    "leader-election-id": dnsLabel("leader-election-id"),
    "leader-election-namespace": dnsLabel("leader-election-namespace").optional(),
    "lease-duration": dur("lease-duration"),
    "renew-deadline": dur("renew-deadline"),
    "retry-period": dur("retry-period"),
    "instance-id": z.string().min(1).max(128),
    "kube-api-qps": num("kube-api-qps", 0.1, 10_000, false),
    "kube-api-burst": num("kube-api-burst", 1, 100_000),
    "probe-host": z.string().min(1),
    "probe-port": num("probe-port", 0, 65535),
    "issuer-host": z.string().min(1),
    "issuer-port": num("issuer-port", 0, 65535),
    // Names the issuer's serving certificate carries besides localhost: the Service names the
    // gateway sidecars dial (the chart sets <issuer>,<issuer>.<ns>.svc,<issuer>.<ns>.svc.<domain>).
    "issuer-dns-names": z
      .string()
      .transform((s) =>
        s
          .split(",")
          .map((x) => x.trim())
          .filter(Boolean),
      )
      .pipe(
        z.array(
          z
            .string()
            .max(253, { message: "--issuer-dns-names: each name must be at most 253 characters" })
            .regex(new RegExp(DNS_SUBDOMAIN_PATTERN), {
              message:
                "--issuer-dns-names must be comma-separated lower-case DNS names such as agent-warden-issuer.agent-warden-system.svc",
            }),
        ),
      ),
    // Labels of the issuer's pods (the operator's own), for the enclave NetworkPolicies that let
    // gateway sidecars reach the issuer. The chart sets the operator Deployment's selector labels.
    "issuer-pod-labels": labelSelector("issuer-pod-labels"),
    // Where cluster DNS runs, for the enclave NetworkPolicy that allows DNS and nothing else.
    "dns-namespace": dnsLabel("dns-namespace"),
    "dns-pod-labels": labelSelector("dns-pod-labels"),
    // Cluster-wide cap on every SVID's lifetime, applied after the identity's TTL and its enclave's
    // maxSvidTTL (by the issuer, Secret delivery and status.effectiveTTL alike).
    "svid-max-ttl": z
      .string()
      .regex(new RegExp(DURATION_PATTERN), {
        message: "--svid-max-ttl must be a duration from 5m to 24h, such as 1h",
        abort: true, // the range check below needs a parseable duration
      })
      .refine(
        (s) => {
          const ms = parseDurationMs(s);
          return ms >= SVID_TTL_MIN_MS && ms <= SVID_TTL_MAX_MS;
        },
        { message: "--svid-max-ttl must be from 5m to 24h (the range of spec.svid.ttl)" },
      ),
    // Fraction of an SVID's life after which Secret delivery renews it (the gateway sidecar gets the
    // same value from the webhook).
    "svid-renew-at": num("svid-renew-at", 0.1, 0.9, false),
    "svid-ttl-override": z
      .string()
      .regex(new RegExp(DURATION_PATTERN), {
        message: "--svid-ttl-override must be a duration such as 30s (tests only)",
      })
      .optional(),
    identity: bool("identity"),
    "enclave-cluster-role": z.string().max(253),
    namespaces: z.string().transform(
      (s) =>
        new Set(
          s
            .split(",")
            .map((x) => x.trim())
            .filter(Boolean),
        ),
    ),
    "resync-period": dur("resync-period"),
    "bundle-resync": dur("bundle-resync"),
    "identity-workers": num("identity-workers", 1, 64),
  })
  .refine((c) => c["renew-deadline"] < c["lease-duration"], {
    message: "--renew-deadline must be shorter than --lease-duration",
    path: ["renew-deadline"],
  })
  .refine((c) => c["retry-period"] < c["renew-deadline"], {
    message: "--retry-period must be shorter than --renew-deadline",
    path: ["retry-period"],
  });
export type OperatorConfig = z.output<typeof configSchema>;

function defaultNamespace(): string {
  if (existsSync(IN_CLUSTER_NAMESPACE_FILE)) return readFileSync(IN_CLUSTER_NAMESPACE_FILE, "utf8").trim();
  return "agent-warden-system";
}

export const DEFAULTS: Record<Flag, string | undefined> = {
  kubeconfig: undefined,
  namespace: undefined,
  "service-account": "agent-warden-operator",
  "trust-domain": "cluster.local",
  "leader-elect": "true",
  "leader-election-id": "agent-warden-operator",
  "leader-election-namespace": undefined,
  "lease-duration": "15s",
  "renew-deadline": "10s",
  "retry-period": "2s",
  "instance-id": undefined,
  "kube-api-qps": "200",
  "kube-api-burst": "400",
  "probe-host": "127.0.0.1",
  "probe-port": "8080",
  "issuer-host": "127.0.0.1",
  "issuer-port": "8443",
  "issuer-dns-names": "",
  "issuer-pod-labels": "app.kubernetes.io/name=agent-warden,app.kubernetes.io/component=operator",
  "dns-namespace": "kube-system",
  "dns-pod-labels": "k8s-app=kube-dns",
  "svid-max-ttl": "24h",
  "svid-renew-at": "0.5",
  "svid-ttl-override": undefined,
  identity: "on",
  "enclave-cluster-role": "agent-warden-enclave",
  namespaces: "",
  "resync-period": "10m",
  "bundle-resync": "30s",
  "identity-workers": "8",
};

/** Flags win over environment variables, which win over defaults. */
export function loadConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): OperatorConfig {
  const options = Object.fromEntries(Object.keys(FLAGS).map((f) => [f, { type: "string" as const }]));
  let values: Record<string, string | undefined>;
  try {
    values = parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values as Record<
      string,
      string | undefined
    >;
  } catch (err) {
    throw new ValidationError("operator flags", [{ path: "", message: (err as Error).message }]);
  }
  const raw: Record<string, string | undefined> = {};
  for (const flag of Object.keys(FLAGS) as Flag[]) {
    raw[flag] = values[flag] ?? env[FLAGS[flag]] ?? DEFAULTS[flag];
  }
  raw.namespace ??= defaultNamespace();
  raw["instance-id"] ??= `${env.HOSTNAME ?? hostname()}-${process.pid}`;
  const r = configSchema.safeParse(raw);
  if (!r.success) {
    throw new ValidationError(
      "operator configuration",
      zodIssues(r.error).map((i) => {
        // A list flag's issue has a path like "issuer-dns-names[1]": name the flag itself.
        const flag = i.path.split(/[.[]/)[0] as Flag;
        return { path: FLAGS[flag] ? `--${flag} (${FLAGS[flag]})` : i.path, message: i.message };
      }),
    );
  }
  return r.data;
}
