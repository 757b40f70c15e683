// Files an inbound gateway needs to start and become ready, without a cluster: a test CA, the tool
// server's SVID signed by it, the trust bundle and an InboundPolicy, plus a writable audit path.
// Used to run the gateway image (and, for comparison, the unbundled gateway) in tests and
// measurements. The upstream is never called: readiness does not depend on it.
import { chmodSync, chownSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { InboundPolicy } from "../../api/v1alpha1/policy.ts";
import { issueFor, testCA } from "../../lib/identity/testing.ts";

const TRUST_DOMAIN = "example.org";

/**
 * Writes the files into `hostDir` (made readable, and the audit directory writable, by `uid`) and
 * returns the gateway's environment with paths below `mountedAt`, where the directory is seen by
 * the gateway (the same as hostDir for a host process, a volume path for an image).
 */
export async function inboundGatewayFiles(
  hostDir: string,
  mountedAt: string,
  uid: number,
): Promise<Record<string, string>> {
  const ca = await testCA(TRUST_DOMAIN);
  const server = await issueFor(ca, `spiffe://${TRUST_DOMAIN}/ns/tools/sa/web-tools`);
  const policy: InboundPolicy = {
    apiVersion: "warden.dev/v1alpha1",
    kind: "InboundPolicy",
    version: "in-1",
    manifest: "web-tools",
    namespace: "tools",
    allowedCallers: [`spiffe://${TRUST_DOMAIN}/ns/agents/sa/researcher`],
  };
  // Like a volume, readable by the gateway's user (a mkdtemp directory is 0700).
  chmodSync(hostDir, 0o755);
  mkdirSync(join(hostDir, "audit"), { recursive: true });
  writeFileSync(join(hostDir, "bundle.pem"), ca.certPem, { mode: 0o644 });
  writeFileSync(join(hostDir, "tls.crt"), server.chainPem, { mode: 0o644 });
  writeFileSync(join(hostDir, "tls.key"), server.keyPem, { mode: 0o600 });
  writeFileSync(join(hostDir, "policy.json"), JSON.stringify(policy), { mode: 0o644 });
  chownSync(join(hostDir, "tls.key"), uid, uid);
  chownSync(join(hostDir, "audit"), uid, uid);
  return {
    WARDEN_GATEWAY_MODE: "inbound",
    WARDEN_GATEWAY_LISTEN: "127.0.0.1:0",
    WARDEN_GATEWAY_ADMIN_LISTEN: "127.0.0.1:0",
    WARDEN_POLICY_FILE: `${mountedAt}/policy.json`,
    WARDEN_BUNDLE_FILE: `${mountedAt}/bundle.pem`,
    WARDEN_SVID_CERT_FILE: `${mountedAt}/tls.crt`,
    WARDEN_SVID_KEY_FILE: `${mountedAt}/tls.key`,
    WARDEN_AUDIT_FILE: `${mountedAt}/audit/audit.jsonl`,
    WARDEN_TRUST_DOMAIN: TRUST_DOMAIN,
    // Discard port: nothing listens there, and the gateway only calls it for a forwarded request.
    WARDEN_UPSTREAM: "http://127.0.0.1:9",
  };
}

/** The admin port from the gateway's "gateway listening" log line, once it has been printed. */
export function adminPortFromLogs(log: string): number | undefined {
  for (const line of log.split("\n")) {
    if (!line.startsWith("{")) continue;
    const rec = JSON.parse(line) as { msg?: string; admin?: number };
    if (rec.msg === "gateway listening" && typeof rec.admin === "number") return rec.admin;
  }
  return undefined;
}
