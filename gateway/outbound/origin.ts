// DNS-rebinding protection for the agent's loopback listener (MCP Streamable HTTP transport: a
// server MUST validate Origin; 403 when it is present and not allowed). A web page the agent's
// browser (or any browser on the node) opens could otherwise resolve its own name to 127.0.0.1
// and drive the gateway with the agent's identity. So: Host must name a loopback address or an
// allowed host, and Origin, when sent, must be a loopback origin or on the allowlist (empty by
// default: agents are not browsers).
import { type Deny, deny } from "../decide/deny.ts";

export interface OriginPolicy {
  /** Exact origins (scheme://host[:port]) allowed to call; empty allows none. */
  allowedOrigins: readonly string[];
  /** Host names (without port) allowed besides the loopback names. */
  allowedHosts: readonly string[];
}

const LOOPBACK_HOSTS = ["localhost", "127.0.0.1", "[::1]", "::1"];

/** An Origin on a loopback name: a page served from inside the pod, never a rebinding attacker. */
export function isLoopbackOrigin(origin: string): boolean {
  const m = /^https?:\/\/(\[::1\]|localhost|127\.0\.0\.1)(?::[0-9]{1,5})?$/.exec(origin.toLowerCase());
  return m !== null;
}

/** The host name of a Host header value (port and brackets handled), lower-cased. */
export function hostName(host: string): string | undefined {
  const h = host.trim().toLowerCase();
  const m = /^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(?::([0-9]{1,5}))?$/.exec(h);
  return m ? m[1] : undefined;
}

/** The refusal for a request whose Host or Origin is not allowed, else undefined. */
export function originDeny(
  host: string | undefined,
  origin: string | undefined,
  policy: OriginPolicy,
): Deny | undefined {
  const name = host === undefined ? undefined : hostName(host);
  const hosts = [...LOOPBACK_HOSTS, ...policy.allowedHosts.map((h) => h.toLowerCase())];
  if (name === undefined || !hosts.includes(name)) {
    return deny(
      "HostNotAllowed",
      `Host ${JSON.stringify((host ?? "").slice(0, 128))} is not a loopback name or an allowed host ` +
        "(DNS rebinding protection); add it to WARDEN_ALLOWED_HOSTS if it is yours",
    );
  }
  if (origin !== undefined && !policy.allowedOrigins.includes(origin) && !isLoopbackOrigin(origin)) {
    return deny(
      "OriginNotAllowed",
      `Origin ${JSON.stringify(origin.slice(0, 128))} is not allowed (DNS rebinding protection); ` +
        "add it to WARDEN_ALLOWED_ORIGINS if a browser client must call the gateway",
    );
  }
  return undefined;
}
