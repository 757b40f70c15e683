// The contract between the mutating webhook (which injects the gateway sidecar), the gateway
// itself and the issuer: names, paths, ports and environment variables. Change them here only.

export const GATEWAY_CONTAINER_NAME = "warden-gateway";
/** Port the outbound gateway listens on, on loopback inside the pod, for the agent container. */
export const GATEWAY_OUTBOUND_PORT = 15001;
/** Port of the gateway's health/metrics endpoint (loopback + kubelet probes). */
export const GATEWAY_ADMIN_PORT = 15020;
/** Port the inbound gateway listens on in front of a tool server (mTLS). */
export const GATEWAY_INBOUND_PORT = 15443;

/** Audience of the projected ServiceAccount token the sidecar presents to the issuer. */
export const ISSUER_TOKEN_AUDIENCE = "warden.dev/issuer";

export const SIDECAR_VOLUMES = {
  /** Projected SA token (issuer audience), mounted into the sidecar alone. */
  token: { name: "warden-issuer-token", mountPath: "/var/run/warden/token", file: "token" },
  /** Trust bundle ConfigMap (PEM + SPIFFE JWKS). */
  bundle: { name: "warden-trust-bundle", mountPath: "/var/run/warden/bundle", file: "bundle.pem" },
  /** Compiled gateway policy ConfigMap. */
  policy: { name: "warden-policy", mountPath: "/var/run/warden/policy", file: "policy.json" },
  /** Writable scratch space for the audit log (the root filesystem is read-only). */
  audit: { name: "warden-audit", mountPath: "/var/run/warden/audit", file: "audit.jsonl" },
  /**
   * The agent's credentials Secret (credentialsSecretName), projected by the operator: one key per
   * granted ToolManifest with a credential, named after the manifest. Optional: agents without
   * credentialed tools have none.
   */
  credentials: { name: "warden-credentials", mountPath: "/var/run/warden/credentials" },
  /**
   * Approver tokens (`<approver> <token>` per line) from a Secret of the namespace named by the
   * chart (gateway.approvals.secretName). Optional: without it nobody can approve, and every
   * approval-gated call times out (ApprovalTimeout), as documented.
   */
  approvers: { name: "warden-approvers", mountPath: "/var/run/warden/approvers", key: "tokens" },
} as const;

/**
 * The file (key of the agent's credentials Secret) holding a ToolManifest's credential: the
 * manifest's name. Undefined when the name could escape the directory (never for a valid name).
 */
export function credentialFileName(manifest: string): string | undefined {
  return /^[A-Za-z0-9][-._A-Za-z0-9]*$/.test(manifest) && manifest.length <= 253 ? manifest : undefined;
}

/** Environment of the gateway process (the webhook sets these; the gateway reads them). */
export const GATEWAY_ENV = {
  mode: "WARDEN_GATEWAY_MODE", // outbound | inbound
  listen: "WARDEN_GATEWAY_LISTEN", // host:port
  adminListen: "WARDEN_GATEWAY_ADMIN_LISTEN",
  policyFile: "WARDEN_POLICY_FILE",
  bundleFile: "WARDEN_BUNDLE_FILE",
  tokenFile: "WARDEN_TOKEN_FILE",
  issuerURL: "WARDEN_ISSUER_URL",
  auditFile: "WARDEN_AUDIT_FILE",
  trustDomain: "WARDEN_TRUST_DOMAIN",
  /** inbound mode: where the local tool server listens. */
  upstream: "WARDEN_UPSTREAM",
  /** SVID from files instead of the issuer (Secret delivery, tests): PEM chain and PKCS#8 key. */
  svidCertFile: "WARDEN_SVID_CERT_FILE",
  svidKeyFile: "WARDEN_SVID_KEY_FILE",
  /** Directory of the agent's projected credentials: <dir>/<ToolManifest name> (credentialFileName). */
  credentialsDir: "WARDEN_CREDENTIALS_DIR",
  /** File of approver bearer tokens for the approval channel, one `<approver> <token>` per line. */
  approvalTokensFile: "WARDEN_APPROVAL_TOKENS_FILE",
  /** Comma-separated argument field names redacted in the audit log. */
  auditRedact: "WARDEN_AUDIT_REDACT",
  /** Extra accepted task-token audience besides the gateway's own SPIFFE ID. */
  taskTokenAudience: "WARDEN_TASK_TOKEN_AUDIENCE",
  /** Issuer mode: fraction of the SVID lifetime after which to renew, 0.1–0.9 (default 0.5). */
  svidRenewAt: "WARDEN_SVID_RENEW_AT",
  /** Outbound: comma-separated Origins allowed to call the loopback listener (default none). */
  allowedOrigins: "WARDEN_ALLOWED_ORIGINS",
  /** Outbound: comma-separated Host names allowed besides the loopback names. */
  allowedHosts: "WARDEN_ALLOWED_HOSTS",
  /** Milliseconds a stopping gateway waits for in-flight calls before it exits (default 20000). */
  drainTimeoutMs: "WARDEN_DRAIN_TIMEOUT_MS",
} as const;

/**
 * Argument fields the audit log redacts when GATEWAY_ENV.auditRedact is not set (lower case; the
 * gateway compares field names case-insensitively). The injector leaves the variable out at this
 * value, so the gateway must default to the same.
 */
export const DEFAULT_AUDIT_REDACT: readonly string[] = [
  "password",
  "secret",
  "token",
  "apikey",
  "api_key",
  "authorization",
  "credential",
];

/** Default Secret (in the agent's namespace) holding approver tokens (chart gateway.approvals.secretName). */
export const DEFAULT_APPROVALS_SECRET = "warden-approvers";

/**
 * Default of GATEWAY_ENV.svidRenewAt: renew at half-life. The injector leaves the variable out at
 * this value, so the gateway must default to the same.
 */
export const DEFAULT_SVID_RENEW_AT = 0.5;

/** Environment the webhook sets on agent containers so they talk to the sidecar. */
export const AGENT_ENV = {
  gatewayURL: "WARDEN_GATEWAY_URL", // http://127.0.0.1:15001
} as const;

/** Outbound route of a tool server: http://127.0.0.1:15001/servers/<manifest>/mcp */
export function outboundRoute(manifest: string): string {
  return `/servers/${manifest}/mcp`;
}
